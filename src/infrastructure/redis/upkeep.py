"""The Redis cache's background work: counters published, tag indexes pruned, everything dropped after an outage."""

from collections.abc import Callable

from redis.asyncio import Redis

from domain.caching import CacheCounters
from domain.ports import Clock
from infrastructure.redis.client import CircuitBreaker, RedisUnavailable
from infrastructure.redis.protocol import ScriptArgs, Scripts
from infrastructure.redis.stats import SCAN_BATCH, SharedCacheStats

_TICK = 1.0
_PRUNE_BATCH = 200


class Upkeep:
    """One instance's upkeep of the shared cache; `lost_invalidations` once a write failed while Redis was away."""

    def __init__(
        self,
        client: "Redis",
        breaker: CircuitBreaker,
        scripts: Scripts,
        args: ScriptArgs,
        board: SharedCacheStats,
        counters: Callable[[], CacheCounters],
        *,
        instance: str,
        prune_interval: float,
        clock: Clock,
    ) -> None:
        self.lost_invalidations = False
        self._client = client
        self._breaker = breaker
        self._scripts = scripts
        self._args = args
        self._board = board
        self._counters = counters
        self._instance = instance
        self._prune_interval = prune_interval
        self._clock = clock

    async def run(self) -> None:
        """Every second publish this instance's counters; every prune interval, prune the tag indexes."""
        next_prune = self._clock() + self._prune_interval
        while True:
            await self._clock.sleep(min(_TICK, self._prune_interval))
            try:
                await self._board.publish(self._counters())
                if self._clock() >= next_prune:
                    next_prune = self._clock() + self._prune_interval
                    await self._prune()
            except RedisUnavailable:
                continue

    async def drop_everything(self) -> None:
        """Invalidations were lost while Redis was unreachable: fence every load, then delete every entry."""
        call = self._breaker.call
        try:
            await self._scripts.run(self._args.fence_all())
            for pattern in (self._args.value_key("*"), self._args.tag_index("*")):
                cursor = 0
                while True:
                    cursor, names = await call(self._client.scan, cursor, pattern, SCAN_BATCH)
                    if names:
                        await call(self._client.unlink, *names)
                    if not cursor:
                        break
            await call(self._client.unlink, self._args.tag_list())
        except RedisUnavailable:
            return
        self.lost_invalidations = False

    async def _prune(self) -> None:
        """Drop expired keys from every tag index, a batch of tags per script, one instance at a time."""
        lock = f"{self._args.prefix}:prune-lock"
        lease_ms = int(self._prune_interval * 1000)
        if not await self._breaker.call(self._client.set, lock, self._instance, px=lease_ms, nx=True):
            return
        first = 0
        while True:
            seen, _pruned = await self._scripts.run(self._args.prune(first, _PRUNE_BATCH))
            if seen < _PRUNE_BATCH:
                return
            first += seen
