"""The shared cache on Redis: one atomic script per write, fenced loads, an L1 kept coherent over pub/sub."""

import asyncio
import copy
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.caching import CacheCounters, CacheStats
from domain.ports import CachePort, Clock
from infrastructure.cache_mechanics import Flight, Flights, Meter, ValueCodec
from infrastructure.clock import REAL_CLOCK
from infrastructure.redis import scripts
from infrastructure.redis.client import CircuitBreaker, RedisUnavailable
from infrastructure.redis.stats import SCAN_BATCH, SharedCacheStats

T = TypeVar("T")

_TICK = 1.0
_PRUNE_BATCH = 200
_MISSING: Any = object()


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
        self._prefix = prefix
        self._default_ttl = default_ttl
        self._timeout = timeout
        self._new_l1 = l1
        self._l1_ttl = l1_ttl
        self._clock = clock
        self._prune_interval = prune_interval
        self._fence_ms = int(fence_window * 1000)
        self._fence_window = fence_window
        self._cooldown = breaker_cooldown
        self._breaker = CircuitBreaker(
            timeout=timeout,
            cooldown=breaker_cooldown,
            calls=calls,
            clock=clock,
            on_failure=self._on_redis_failure,
            on_recovery=self._on_redis_recovery,
        )
        self._scripts: dict[str, Any] = {
            name: client.register_script(getattr(scripts, name))
            for name in ("READ", "SET", "FENCED_SET", "TAG", "INVALIDATE", "INVALIDATE_TAG", "FENCE_ALL", "PRUNE")
        }
        self._codec = ValueCodec()
        self._stats = Meter(clock)
        self._flights = Flights(self._stats, self._store_loaded)
        self._instance = uuid.uuid4().hex
        # Every script learns the prefix and which instance runs it, so that an instance skips its own messages.
        self._origin = (prefix, self._instance)
        self._own = self._instance.encode()
        self._shared_stats = SharedCacheStats(client, self._breaker, prefix, self._instance)
        # L1 is used only while the invalidation channel is subscribed; `_seq` counts invalidations seen, so a value
        # read from Redis before an invalidation arrived is not put into L1 after it.
        self._l1: CachePort | None = None
        self._seq = 0
        self._l1_hits = self._l1_hits_not_served = 0
        self._l1_hit_seconds = 0.0
        self._lost_invalidations = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start listening for invalidations and the upkeep (statistics, index pruning); never fails."""
        loop = asyncio.get_running_loop()
        if self._new_l1 is not None:
            self._tasks.append(loop.create_task(self._listen()))
        self._tasks.append(loop.create_task(self._upkeep()))

    async def close(self) -> None:
        """Stop the background tasks and close the connections."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def get(self, key: str, as_type: type[T] | None = None) -> T | None:
        """The fresh value under `key` as the port's value contract says, or None (also when Redis is unavailable)."""
        l1 = self._l1
        if l1 is not None:  # _from_l1 written out: a coroutine less on the hottest path
            cached = await l1.get(key, tuple)
            if cached is not None and cached[0] is as_type:
                return cached[1]  # type: ignore[no-any-return]
            self._l1_hits_not_served += cached is not None
        started = self._clock()
        found, value = await self._read(key, as_type)
        if not found:
            self._stats.miss(started)
            return None
        self._stats.hit(started)
        return value  # type: ignore[no-any-return]

    async def set(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store `value` for `ttl` seconds (default_ttl when None), keeping the key's tags; fences loads in flight."""
        ttl_ms = self._ttl_ms(ttl)
        data = self._codec.encode(value)
        self._flights.fence_key(key)
        await self._forget_locally(key=key)
        await self._write(self._scripts["SET"], [self._key(key)], [*self._origin, key, data, ttl_ms, self._fence_ms])

    async def tag(self, key: str, *tags: str) -> None:
        """Attach tags to a stored key; a missing or expired key is left alone."""
        try:
            await self._breaker.call(self._scripts["TAG"], [self._key(key)], [*self._origin, key, *tags])
        except RedisUnavailable:
            return

    async def invalidate(self, key: str) -> bool:
        """Remove one key everywhere; True when it was cached. Loads of it in flight anywhere will not store."""
        self._stats.invalidations += 1
        self._flights.fence_key(key)
        await self._forget_locally(key=key)
        removed = await self._write(self._scripts["INVALIDATE"], [self._key(key)], [*self._origin, key, self._fence_ms])
        self._stats.invalidated_keys += removed
        return bool(removed)

    async def invalidate_by_tag(self, tag: str) -> int:
        """Remove every key carrying `tag` in one atomic script; returns how many were removed."""
        self._stats.invalidations += 1
        self._flights.fence_tag(tag)
        await self._forget_locally(tag=tag)
        removed = await self._write(
            self._scripts["INVALIDATE_TAG"], [f"{self._prefix}:t:{tag}"], [*self._origin, tag, self._fence_ms]
        )
        self._stats.invalidated_keys += removed
        return removed

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        ttl: float | None = None,
        tags: Sequence[str] = (),
        as_type: type[T] | None = None,
    ) -> tuple[T, bool]:
        """(value, True) from the cache, or (loaded value, False); concurrent misses in this process share a load."""
        if self._l1 is not None and (cached := await self._from_l1(key, as_type)) is not _MISSING:
            return cached, True
        started = self._clock()
        epoch = None
        if key not in self._flights:  # a caller that joins a running load need not ask Redis
            found, value = await self._read(key, as_type, need_epoch=True)
            if found:
                self._stats.hit(started)
                return value, True
            epoch = value
        return await self._flights.load(key, loader, ttl, tags, started, epoch), False

    def get_stats(self) -> CacheStats:
        """This instance's counters since start; `keys` and `tags` are those of its L1."""
        l1 = self._l1.get_stats() if self._l1 is not None else None
        return self._counters().snapshot(
            keys=l1["keys"] if l1 else 0, tags=l1["tags"] if l1 else 0, reclaiming=l1["reclaiming"] if l1 else 0
        )

    async def cluster_stats(self) -> CacheStats:
        """Every live instance's counters summed, with the keys and tags held in Redis; this instance's alone
        when Redis is unavailable."""
        try:
            await self._shared_stats.publish(self._counters())
            return await self._shared_stats.total()
        except RedisUnavailable:
            return self.get_stats()

    # -- reading and writing -------------------------------------------------------------------------------------

    async def _from_l1(self, key: str, as_type: Any) -> Any:
        """The value from L1, or _MISSING; L1 counts its own hits, which get_stats() adds in."""
        cached = await self._l1.get(key, tuple)  # type: ignore[union-attr]
        if cached is None:
            return _MISSING
        if cached[0] is not as_type:
            self._l1_hits_not_served += 1  # asked as another type: decoded again from Redis, and counted there
            return _MISSING
        return cached[1]

    async def _read(self, key: str, as_type: Any, need_epoch: bool = False) -> tuple[bool, Any]:
        """(True, value) from Redis; (False, epoch the miss was seen at, or None) on a miss."""
        l1 = self._l1  # None while Redis or the invalidation channel is unavailable
        seq = self._seq
        try:
            if l1 is None and not need_epoch:
                data = await self._breaker.call(self._client.hget, self._key(key), "v")
                return (False, None) if data is None else (True, self._codec.decode(cast(bytes, data), as_type))
            reply = await self._breaker.call(self._scripts["READ"], [self._key(key)], [self._prefix])
        except RedisUnavailable:
            return False, None
        if isinstance(reply, int):
            return False, reply
        fields = dict(zip(reply[1::2], reply[2::2], strict=True))
        value = self._codec.decode(fields[b"v"], as_type)
        if l1 is not None and seq == self._seq and self._l1 is l1:
            await l1.set(key, (as_type, value), min(self._l1_ttl, reply[0] / 1000))
            tags = [field[2:].decode() for field in fields if field.startswith(b"t:")]
            if tags:
                await l1.tag(key, *tags)
        return True, value

    async def _write(self, script: Any, keys: list[str], args: list[Any]) -> int:
        """Run a write script; a write lost to an outage makes the whole cache be dropped on recovery."""
        try:
            return int(await self._breaker.call(script, keys, args))
        except RedisUnavailable:
            self._lost_invalidations = True
            return 0

    async def _store_loaded(self, flight: Flight, value: Any) -> bool:
        """Store a loaded value unless the key or a tag was invalidated, anywhere, since the miss was seen."""
        if flight.epoch is None:
            return True  # Redis was unavailable when the miss was seen: nothing to fence the write with
        if self._clock() - flight.started >= self._fence_window:
            return False  # the fences may have expired: the result cannot be trusted
        data = self._codec.encode(value)
        args = [*self._origin, flight.key, data, self._ttl_ms(flight.ttl), flight.epoch, *flight.tags]
        try:
            return bool(await self._breaker.call(self._scripts["FENCED_SET"], [self._key(flight.key)], args))
        except RedisUnavailable:
            return True

    # -- the breaker's hooks ---------------------------------------------------------------------------------------

    def _on_redis_failure(self) -> None:
        self._stats.backend_errors += 1
        self._swap_l1(None)

    def _on_redis_recovery(self) -> None:
        if self._lost_invalidations:
            self._tasks.append(asyncio.get_running_loop().create_task(self._drop_everything()))

    async def _drop_everything(self) -> None:
        """Invalidations were lost while Redis was unreachable: fence every load, then delete every entry."""
        try:
            await self._breaker.call(self._scripts["FENCE_ALL"], [], [*self._origin, self._fence_ms])
            for pattern in (f"{self._prefix}:k:*", f"{self._prefix}:t:*"):
                cursor = 0
                while True:
                    cursor, names = await self._breaker.call(self._client.scan, cursor, pattern, SCAN_BATCH)
                    if names:
                        await self._breaker.call(self._client.unlink, *names)
                    if not cursor:
                        break
            await self._breaker.call(self._client.unlink, f"{self._prefix}:tags")
        except RedisUnavailable:
            return
        self._lost_invalidations = False

    # -- L1 coherence --------------------------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Keep L1 on only while subscribed to the invalidation channel; flushed whenever the channel is lost."""
        assert self._new_l1 is not None
        while True:
            pubsub = self._client.pubsub()
            try:
                async with asyncio.timeout(max(self._timeout, 1.0)):
                    await pubsub.subscribe(f"{self._prefix}:inv")
                self._swap_l1(self._new_l1())
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_TICK)
                    if message is not None:
                        await self._on_invalidation(message["data"])
                    if self._l1 is None:
                        break  # a Redis call failed: the channel may be as dead as the data connection
            except (RedisError, OSError, TimeoutError):
                pass
            finally:
                self._swap_l1(None)
                await _quietly(pubsub.aclose())  # type: ignore[no-untyped-call]
            await self._clock.sleep(min(self._cooldown, _TICK))

    async def _on_invalidation(self, data: bytes) -> None:
        size = len(self._own)
        origin, kind, name = data[:size], data[size : size + 1], data[size + 1 :].decode()
        if origin == self._own:
            return  # this instance's own change: its L1 was updated when it made it
        if kind == b"*":
            if self._new_l1 is not None and self._l1 is not None:
                self._swap_l1(self._new_l1())
            return
        await self._forget_locally(key=name if kind == b"k" else None, tag=name if kind == b"t" else None)

    async def _forget_locally(self, *, key: str | None = None, tag: str | None = None) -> None:
        self._seq += 1
        l1 = self._l1
        if l1 is None:
            return
        if key is not None:
            await l1.invalidate(key)
        if tag is not None:
            await l1.invalidate_by_tag(tag)

    # -- upkeep ----------------------------------------------------------------------------------------------------

    async def _upkeep(self) -> None:
        """Every second publish this instance's counters; every prune interval, prune the tag indexes."""
        next_prune = self._clock() + self._prune_interval
        while True:
            await self._clock.sleep(min(_TICK, self._prune_interval))
            try:
                await self._shared_stats.publish(self._counters())
                if self._clock() >= next_prune:
                    next_prune = self._clock() + self._prune_interval
                    await self._prune()
            except RedisUnavailable:
                continue

    async def _prune(self) -> None:
        """Drop expired keys from every tag index, a batch of tags per script, one instance at a time."""
        lock = f"{self._prefix}:prune-lock"
        lease_ms = int(self._prune_interval * 1000)
        if not await self._breaker.call(self._client.set, lock, self._instance, px=lease_ms, nx=True):
            return
        first = 0
        while True:
            seen, _pruned = await self._breaker.call(self._scripts["PRUNE"], [], [*self._origin, first, _PRUNE_BATCH])
            if seen < _PRUNE_BATCH:
                return
            first += seen

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _swap_l1(self, l1: CachePort | None) -> None:
        """Replace (or drop) L1, keeping the hits it served in this instance's totals."""
        old, self._l1 = self._l1, l1
        self._seq += 1
        if old is not None:
            stats = old.get_stats()
            self._l1_hits += stats["hits"]
            self._l1_hit_seconds += stats["avg_hit_ms"] * stats["hits"] / 1000

    def _counters(self) -> CacheCounters:
        """This instance's counters, with the hits its L1s served."""
        hits, seconds = self._l1_hits - self._l1_hits_not_served, self._l1_hit_seconds
        if self._l1 is not None:
            stats = self._l1.get_stats()
            hits, seconds = hits + stats["hits"], seconds + stats["avg_hit_ms"] * stats["hits"] / 1000
        merged = copy.copy(self._stats)
        merged.hits += hits
        merged.hit_seconds += seconds
        return merged

    def _key(self, key: str) -> str:
        return f"{self._prefix}:k:{key}"

    def _ttl_ms(self, ttl: float | None) -> int:
        return max(1, int(1000 * (self._default_ttl if ttl is None else ttl)))


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except (RedisError, OSError):
        return
