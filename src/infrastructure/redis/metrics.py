"""Processes' metrics states shared through Redis."""

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.errors import Unavailable
from domain.metrics import ProcessMetrics
from domain.ports import MetricsSharePort

# Forget index entries whose state has expired, but only if it is still gone: a process may have republished
# between our read and this clean-up, and must not vanish from the index until its next publication.
_FORGET_EXPIRED = """
local forgotten = 0
for i, process in ipairs(ARGV) do
    if redis.call('EXISTS', KEYS[2] .. process) == 0 then
        forgotten = forgotten + redis.call('SREM', KEYS[1], process)
    end
end
return forgotten
"""


class RedisMetricsShare(MetricsSharePort):
    """MetricsSharePort in Redis: one msgpack key per process that expires after `expiry_s`, and a set naming them.

    A process is live exactly as long as its key: a process that stops publishing drops out when the key
    expires, whoever reads.
    """

    def __init__(self, client: Redis, prefix: str, expiry_s: float) -> None:
        self._client = client
        self._state_key = f"{prefix}:metrics:process:"
        self._index_key = f"{prefix}:metrics:processes"
        self._expiry_ms = max(1, round(expiry_s * 1000))
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(ProcessMetrics)
        self._forget = client.register_script(_FORGET_EXPIRED)

    async def publish(self, state: ProcessMetrics) -> None:
        """Store this process's state with a fresh expiry, in one round trip."""
        payload = self._encoder.encode(state)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.set(self._state_key + state.process, payload, px=self._expiry_ms)
                pipe.sadd(self._index_key, state.process)
                pipe.pexpire(self._index_key, self._expiry_ms)
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise Unavailable(f"Redis: {type(error).__name__}") from error

    async def live(self) -> list[ProcessMetrics]:
        """The states of every process whose publication has not expired."""
        try:
            names = await self._client.smembers(self._index_key)
            processes = sorted(name.decode() if isinstance(name, bytes) else name for name in names)
            if not processes:
                return []
            payloads = await self._client.mget([self._state_key + process for process in processes])
            expired = [process for process, payload in zip(processes, payloads, strict=True) if payload is None]
            if expired:
                await self._forget(keys=[self._index_key, self._state_key], args=expired)
            return [self._decoder.decode(payload) for payload in payloads if isinstance(payload, bytes)]
        except (RedisError, OSError) as error:
            raise Unavailable(f"Redis: {type(error).__name__}") from error
        except msgspec.DecodeError as error:
            raise Unavailable("a published state is not in this version's format") from error
