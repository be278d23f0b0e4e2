"""Processes' metrics states shared through Redis."""

import asyncio
import uuid

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.counters import Counters, counters_of
from domain.errors import Unavailable
from domain.metrics import ProcessMetrics
from domain.ports import MetricsSharePort
from infrastructure.redis.counters import RedisCounters

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
    """MetricsSharePort in Redis: per process a msgpack state key and a version key expiring together; a set names them.

    A process is live exactly as long as its keys: a process that stops publishing drops out when they expire,
    whoever reads. A reader fetches the small version keys first and downloads and decodes only the states
    whose version it has not decoded yet, one per turn of the event loop. Each publication also carries the
    process's counters, which stay in the cluster's totals after it has gone (RedisCounters).
    """

    def __init__(self, client: Redis, prefix: str, expiry_s: float) -> None:
        self._client = client
        self._state_key = f"{prefix}:metrics:process:"
        self._version_key = f"{prefix}:metrics:version:"
        self._index_key = f"{prefix}:metrics:processes"
        self._expiry_ms = max(1, round(expiry_s * 1000))
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(ProcessMetrics)
        self._forget = client.register_script(_FORGET_EXPIRED)
        self._publisher = uuid.uuid4().hex
        self._published = 0
        self._decoded: dict[str, tuple[bytes | str, ProcessMetrics]] = {}  # by process: (version, decoded state)
        self._counters = RedisCounters(client, prefix, self._expiry_ms)

    async def publish(self, state: ProcessMetrics) -> None:
        """Store this process's state, a new version with a fresh expiry and its counters, in one round trip."""
        payload = self._encoder.encode(state)
        counters = counters_of(state)
        self._published += 1
        version = f"{self._publisher}:{self._published}"
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.set(self._state_key + state.process, payload, px=self._expiry_ms)
                pipe.set(self._version_key + state.process, version, px=self._expiry_ms)
                pipe.sadd(self._index_key, state.process)
                pipe.pexpire(self._index_key, self._expiry_ms)
                await self._counters.queue(pipe, counters, self._published)
                results = await pipe.execute()
        except (RedisError, OSError) as error:
            raise Unavailable(f"Redis: {type(error).__name__}") from error
        self._counters.landed(results[-1], counters)

    async def leave(self, state: ProcessMetrics) -> None:
        """Fold this process's last counters into the departed sum and drop its state, in one round trip."""
        counters = counters_of(state)
        self._published += 1
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                await self._counters.queue(pipe, counters, self._published, leaving=True)
                pipe.delete(self._state_key + state.process, self._version_key + state.process)
                pipe.srem(self._index_key, state.process)
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise Unavailable(f"Redis: {type(error).__name__}") from error

    async def totals(self) -> Counters:
        """Every process's counters, live or departed, each counted once (folding the ones that expired)."""
        try:
            return await self._counters.totals()
        except (RedisError, OSError) as error:
            raise Unavailable(f"Redis: {type(error).__name__}") from error
        except (msgspec.DecodeError, ValueError) as error:
            raise Unavailable("the published counters are not in this version's format") from error

    async def live(self) -> list[ProcessMetrics]:
        """The states of every process whose publication has not expired (unchanged ones decoded earlier)."""
        try:
            names = await self._client.smembers(self._index_key)
            processes = sorted(name.decode() if isinstance(name, bytes) else name for name in names)
            if not processes:
                return []
            versions = await self._client.mget([self._version_key + process for process in processes])
            expired = [process for process, version in zip(processes, versions, strict=True) if version is None]
            if expired:
                await self._forget(keys=[self._index_key, self._state_key], args=expired)
            live = {process: version for process, version in zip(processes, versions, strict=True) if version}
            states = {
                process: state for process, (version, state) in self._decoded.items() if live.get(process) == version
            }
            stale = [process for process in live if process not in states]
            if stale:
                payloads = await self._client.mget([self._state_key + process for process in stale])
                for process, payload in zip(stale, payloads, strict=True):
                    # Dropping the superseded state here frees its many small objects in this turn, not all at once.
                    self._decoded.pop(process, None)
                    if isinstance(payload, bytes):  # else it expired since its version was read
                        states[process] = self._decoder.decode(payload)
                        self._decoded[process] = (live[process], states[process])
                    await asyncio.sleep(0)
            for gone in self._decoded.keys() - live.keys():
                del self._decoded[gone]
            return [states[process] for process in processes if process in states]
        except (RedisError, OSError) as error:
            raise Unavailable(f"Redis: {type(error).__name__}") from error
        except msgspec.DecodeError as error:
            raise Unavailable("a published state is not in this version's format") from error
