"""The L1 in front of Redis: an in-process cache used only while this instance hears the invalidation channel, and
emptied whenever it may have missed a message."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.caching import CacheStats
from domain.ports import CachePort, Clock
from infrastructure.redis.invalidation import EVERYTHING, KEY, channel, decode_invalidation

_TICK = 1.0


class L1:
    """Values read from Redis kept in process as (as_type, value) pairs under their keys, coherent over pub/sub."""

    def __init__(
        self,
        client: "Redis",
        new_cache: Callable[[], CachePort] | None,
        *,
        prefix: str,
        origin: str,
        ttl: float,
        timeout: float,
        cooldown: float,
        clock: Clock,
    ) -> None:
        # The live cache, None while the channel is not heard. The adapter reads it directly: a coroutine less on
        # its hottest paths. Hits on a pair of another type are read again from Redis, and counted there.
        self.cache: CachePort | None = None
        self.passed_over = 0
        self._client = client
        self._new_cache = new_cache
        self._channel = channel(prefix)
        self._origin = origin
        self._ttl = ttl
        self._timeout = timeout
        self._cooldown = cooldown
        self._clock = clock
        # Invalidations seen: a value read from Redis before one arrived is not kept after it.
        self._seq = 0
        self._hits = 0
        self._hit_seconds = 0.0

    @property
    def enabled(self) -> bool:
        """Whether this instance keeps an L1 at all."""
        return self._new_cache is not None

    def mark(self) -> int:
        """Taken before a Redis read: `fill` keeps the value read only if no invalidation came in between."""
        return self._seq

    async def fill(self, mark: int, key: str, as_type: Any, value: Any, ttl_ms: int, tags: list[str]) -> None:
        """Keep a value read from Redis, for no longer than it lives there, unless an invalidation came since `mark`."""
        cache = self.cache
        if cache is None or mark != self._seq:
            return
        await cache.set(key, (as_type, value), min(self._ttl, ttl_ms / 1000))
        if tags:
            await cache.tag(key, *tags)

    async def forget(self, *, key: str | None = None, tag: str | None = None) -> None:
        """Drop a key or a tag's keys, and keep the Redis reads in flight from bringing them back."""
        self._seq += 1
        cache = self.cache
        if cache is None:
            return
        if key is not None:
            await cache.invalidate(key)
        if tag is not None:
            await cache.invalidate_by_tag(tag)

    def drop(self) -> None:
        """Stop using the L1 until the channel is heard again: a Redis call failed, the channel may be as dead."""
        self._swap(None)

    def served(self) -> tuple[int, float]:
        """How many hits the L1s served since start, and their seconds in all."""
        hits, seconds = self._hits - self.passed_over, self._hit_seconds
        if self.cache is not None:
            stats = self.cache.get_stats()
            hits, seconds = hits + stats["hits"], seconds + stats["avg_hit_ms"] * stats["hits"] / 1000
        return hits, seconds

    def stats(self) -> CacheStats | None:
        """The live L1's own statistics; None while it is off."""
        return None if self.cache is None else self.cache.get_stats()

    async def listen(self) -> None:
        """Keep the L1 on only while subscribed to the invalidation channel; a new one after each lost channel."""
        assert self._new_cache is not None
        while True:
            pubsub = self._client.pubsub()
            try:
                async with asyncio.timeout(max(self._timeout, 1.0)):
                    await pubsub.subscribe(self._channel)
                self._swap(self._new_cache())
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_TICK)
                    if message is not None:
                        await self._on_message(message["data"])
                    if self.cache is None:
                        break  # a Redis call failed: the channel may be as dead as the data connection
            except (RedisError, OSError, TimeoutError):
                pass
            finally:
                self._swap(None)
                await _quietly(pubsub.aclose())  # type: ignore[no-untyped-call]
            await self._clock.sleep(min(self._cooldown, _TICK))

    async def _on_message(self, data: bytes) -> None:
        message = decode_invalidation(data)
        if message.origin == self._origin:
            return  # this instance's own change: its L1 was updated when it made it
        if message.kind == EVERYTHING:
            if self._new_cache is not None and self.cache is not None:
                self._swap(self._new_cache())
            return
        if message.kind == KEY:
            await self.forget(key=message.name)
        else:
            await self.forget(tag=message.name)

    def _swap(self, cache: CachePort | None) -> None:
        """Replace (or drop) the live cache, keeping the hits it served in this instance's totals."""
        old, self.cache = self.cache, cache
        self._seq += 1
        if old is not None:
            stats = old.get_stats()
            self._hits += stats["hits"]
            self._hit_seconds += stats["avg_hit_ms"] * stats["hits"] / 1000


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except (RedisError, OSError):
        return
