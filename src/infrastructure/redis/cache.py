"""The shared cache on Redis: one atomic script per write, fenced loads, an L1 kept coherent over pub/sub."""

import asyncio
import copy
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar, cast

from redis.asyncio import Redis

from domain.caching import ABSENT, Absence, Absent, CacheCounters, CacheStats
from domain.ports import CachePort, Clock
from infrastructure.cache_mechanics import Flight, Flights, Meter, ValueCodec
from infrastructure.clock import REAL_CLOCK
from infrastructure.redis.client import CircuitBreaker, RedisUnavailable
from infrastructure.redis.invalidation import new_origin
from infrastructure.redis.l1 import L1
from infrastructure.redis.protocol import Entry, ScriptArgs, ScriptCall, Scripts, read_entry
from infrastructure.redis.stats import SharedCacheStats
from infrastructure.redis.upkeep import Upkeep

T = TypeVar("T")

# A remembered absence in Redis: no msgpack value is empty.
_ABSENT_DATA = b""


class RedisCache(CachePort):
    """CachePort on Redis shared by every worker and instance, failing open; an optional in-process L1 in front."""

    def __init__(
        self,
        client: "Redis",
        *,
        prefix: str = "perfshop",
        default_ttl: float = 300,
        timeout: float = 0.05,
        l1: Callable[[], CachePort] | None = None,
        l1_ttl: float = 5.0,
        clock: Clock = REAL_CLOCK,
        prune_interval: float = 30.0,
        fence_window: float = 60.0,
        breaker_cooldown: float = 1.0,
        calls: int = 64,
    ) -> None:
        self._client = client
        self._default_ttl = default_ttl
        self._fence_window = fence_window
        self._clock = clock
        breaker = CircuitBreaker(
            timeout=timeout,
            cooldown=breaker_cooldown,
            calls=calls,
            clock=clock,
            on_failure=self._on_redis_failure,
            on_recovery=self._on_redis_recovery,
        )
        self._breaker = breaker
        # Every script learns which instance runs it, so that an instance skips its own messages.
        origin = new_origin()
        self._args = ScriptArgs(prefix, origin, int(fence_window * 1000))
        self._scripts = Scripts(client, breaker)
        self._codec = ValueCodec()
        self._stats = Meter(clock)
        self._flights = Flights(self._stats, self._store_loaded)
        self._l1 = L1(
            client,
            l1,
            prefix=prefix,
            origin=origin,
            ttl=l1_ttl,
            timeout=timeout,
            cooldown=breaker_cooldown,
            clock=clock,
        )
        self._board = SharedCacheStats(client, breaker, prefix, origin)
        self._upkeep = Upkeep(
            client,
            breaker,
            self._scripts,
            self._args,
            self._board,
            self._counters,
            instance=origin,
            prune_interval=prune_interval,
            clock=clock,
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start listening for invalidations and the upkeep (statistics, index pruning); never fails."""
        if self._l1.enabled:
            self._spawn(self._l1.listen())
        self._spawn(self._upkeep.run())

    async def close(self) -> None:
        """Stop the background tasks and close the connections."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def get(self, key: str, as_type: type[T] | None = None) -> T | None:
        """The fresh value under `key` as the port's value contract says, or None (also when Redis is unavailable)."""
        in_l1, value = await self._from_l1(key, as_type)
        if in_l1:
            self._stats.negative_hits += value is ABSENT
            return None if value is ABSENT else value
        started = self._clock()
        found, value = await self._read(key, as_type)
        if not found:
            self._stats.miss(started)
            return None
        if value is ABSENT:
            self._stats.negative_hit(started)
            return None
        self._stats.hit(started)
        return value  # type: ignore[no-any-return]

    async def peek(self, key: str, as_type: type[T]) -> T | Absent | None:
        """The fresh value under `key`, or ABSENT, counted as a hit; None, counted as nothing, on a miss."""
        in_l1, value = await self._from_l1(key, as_type)
        if in_l1:
            self._stats.negative_hits += value is ABSENT
            return value  # type: ignore[no-any-return]
        started = self._clock()
        found, value = await self._read(key, as_type)
        if not found:
            return None
        if value is ABSENT:
            self._stats.negative_hit(started)
        else:
            self._stats.hit(started)
        return value  # type: ignore[no-any-return]

    async def set(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store `value` for `ttl` seconds (default_ttl when None), keeping the key's tags; fences loads in flight."""
        data = self._codec.encode(value)
        self._flights.fence_key(key)
        await self._l1.forget(key=key)
        await self._write(self._args.set(key, data, self._ttl_ms(ttl)))

    async def tag(self, key: str, *tags: str) -> None:
        """Attach tags to a stored key; a missing or expired key is left alone."""
        try:
            await self._scripts.run(self._args.tag(key, tags))
        except RedisUnavailable:
            return

    async def invalidate(self, key: str) -> bool:
        """Remove one key everywhere; True when it was cached. Loads of it in flight anywhere will not store."""
        self._stats.invalidations += 1
        self._flights.fence_key(key)
        await self._l1.forget(key=key)
        removed = await self._write(self._args.invalidate(key))
        self._stats.invalidated_keys += removed
        return bool(removed)

    async def invalidate_by_tag(self, tag: str) -> int:
        """Remove every key carrying `tag` in one atomic script; returns how many were removed."""
        self._stats.invalidations += 1
        self._flights.fence_tag(tag)
        await self._l1.forget(tag=tag)
        removed = await self._write(self._args.invalidate_tag(tag))
        self._stats.invalidated_keys += removed
        return removed

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        ttl: float | None = None,
        tags: Sequence[str] = (),
        as_type: type[T] | None = None,
        absence: Absence | None = None,
    ) -> tuple[T, bool]:
        """(value, True) from the cache, or (loaded value, False); concurrent misses in this process share a load."""
        in_l1, value = await self._from_l1(key, as_type)
        if in_l1:
            if value is ABSENT:
                self._stats.negative_hits += 1
                return None, True  # type: ignore[return-value] # an absence remembered: the port's (None, True)
            return value, True
        started = self._clock()
        epoch = None
        if key not in self._flights:  # a caller that joins a running load need not ask Redis
            found, value = await self._read(key, as_type, need_epoch=True)
            if found:
                if value is ABSENT:
                    self._stats.negative_hit(started)
                    return None, True  # type: ignore[return-value]
                self._stats.hit(started)
                return value, True
            epoch = value
        return await self._flights.load(key, loader, ttl, tags, started, epoch, absence), False

    def get_stats(self) -> CacheStats:
        """This instance's counters since start; `keys` and `tags` are those of its L1."""
        l1 = self._l1.stats()
        return self._counters().snapshot(
            keys=l1["keys"] if l1 else 0, tags=l1["tags"] if l1 else 0, reclaiming=l1["reclaiming"] if l1 else 0
        )

    async def cluster_stats(self) -> CacheStats:
        """Every live instance's counters summed, with the keys and tags held in Redis; this instance's alone
        when Redis is unavailable."""
        try:
            await self._board.publish(self._counters())
            return await self._board.total()
        except RedisUnavailable:
            return self.get_stats()

    async def _from_l1(self, key: str, as_type: Any) -> tuple[bool, Any]:
        """(True, value or ABSENT) when this instance's L1 holds `key` read as `as_type`: a hit the L1 counted."""
        l1 = self._l1.cache
        if l1 is None:
            return False, None
        cached = await l1.get(key, tuple)
        if cached is None:
            return False, None
        if cached[0] is not as_type:
            self._l1.passed_over += 1  # read again from Redis as `as_type`, and counted there
            return False, None
        return True, cached[1]

    async def _read(self, key: str, as_type: Any, need_epoch: bool = False) -> tuple[bool, Any]:
        """(True, value or ABSENT) from Redis, kept in L1; (False, epoch the miss was seen at, or None) on a miss."""
        mark = self._l1.mark()
        try:
            if self._l1.cache is None and not need_epoch:  # nothing to fill, nothing to fence: a plain HGET
                data = await self._breaker.call(self._client.hget, self._args.value_key(key), "v")
                return (False, None) if data is None else (True, self._decode(cast(bytes, data), as_type))
            entry = read_entry(await self._scripts.run(self._args.read(key)))
        except RedisUnavailable:
            return False, None
        if not isinstance(entry, Entry):
            return False, entry
        value = self._decode(entry.data, as_type)
        await self._l1.fill(mark, key, as_type, value, entry.ttl_ms, entry.tags)
        return True, value

    def _decode(self, data: bytes, as_type: Any) -> Any:
        return ABSENT if data == _ABSENT_DATA else self._codec.decode(data, as_type)

    async def _write(self, call: ScriptCall) -> int:
        """Run a write script; a write lost to an outage makes the whole cache be dropped on recovery."""
        try:
            return int(await self._scripts.run(call))
        except RedisUnavailable:
            self._upkeep.lost_invalidations = True
            return 0

    async def _store_loaded(self, flight: Flight, value: Any) -> bool:
        """Store a loaded value unless the key or a tag was invalidated, anywhere, since the miss was seen."""
        if flight.epoch is None:
            return True  # Redis was unavailable when the miss was seen: nothing to fence the write with
        if self._clock() - flight.started >= self._fence_window:
            return False  # the fences may have expired: the result cannot be trusted
        absence = flight.absence
        ttl: float | None
        if value is None and absence is not None:
            data, ttl, tags = _ABSENT_DATA, absence.ttl, (*flight.tags, *absence.tags)
        else:
            data, ttl, tags = self._codec.encode(value), flight.ttl, flight.tags
        call = self._args.fenced_set(flight.key, data, self._ttl_ms(ttl), flight.epoch, tags)
        try:
            return bool(await self._scripts.run(call))
        except RedisUnavailable:
            return True

    def _on_redis_failure(self) -> None:
        self._stats.backend_errors += 1
        self._l1.drop()

    def _on_redis_recovery(self) -> None:
        if self._upkeep.lost_invalidations:
            self._spawn(self._upkeep.drop_everything())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(work))

    def _counters(self) -> CacheCounters:
        """This instance's counters, with the hits its L1s served."""
        hits, seconds = self._l1.served()
        merged = copy.copy(self._stats)
        merged.hits += hits
        merged.hit_seconds += seconds
        return merged

    def _ttl_ms(self, ttl: float | None) -> int:
        return max(1, int(1000 * (self._default_ttl if ttl is None else ttl)))
