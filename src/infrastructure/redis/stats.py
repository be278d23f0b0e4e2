"""Each instance's cache counters kept in Redis for a few seconds, so that any instance can sum the live ones."""

import time
from typing import cast

import msgspec
from redis.asyncio import Redis

from domain.caching import CacheCounters, CacheStats
from infrastructure.redis.client import CircuitBreaker

# An instance that has not published for this long is gone (or cut off) and no longer counted.
_LIFETIME_MS = 5_000
SCAN_BATCH = 1_000


class SharedCacheStats:
    """The board of every instance's counters under the prefix; each call may raise RedisUnavailable."""

    def __init__(self, client: "Redis", breaker: CircuitBreaker, prefix: str, instance: str) -> None:
        self._client = client
        self._breaker = breaker
        self._prefix = prefix
        self._instance = instance
        self._instances = f"{prefix}:instances"

    async def publish(self, counters: CacheCounters) -> None:
        """Post this instance's counters, and forget instances that stopped posting."""
        now_ms = int(time.time() * 1000)
        blob = msgspec.msgpack.encode({name: getattr(counters, name) for name in CacheCounters.__slots__})
        call = self._breaker.call
        await call(self._client.set, f"{self._prefix}:stats:{self._instance}", blob, px=_LIFETIME_MS)
        await call(self._client.zadd, self._instances, {self._instance: now_ms})
        await call(self._client.zremrangebyscore, self._instances, "-inf", now_ms - _LIFETIME_MS)

    async def total(self) -> CacheStats:
        """The live instances' counters summed, with the keys and tags held in Redis."""
        call = self._breaker.call
        now_ms = int(time.time() * 1000)
        instances = await call(self._client.zrangebyscore, self._instances, now_ms - _LIFETIME_MS, "+inf")
        names = [f"{self._prefix}:stats:{name.decode()}" for name in cast("list[bytes]", instances)]
        blobs = await call(self._client.mget, names) if names else []
        keys = await self._count_keys(f"{self._prefix}:k:*")
        tags = await call(self._client.zcard, f"{self._prefix}:tags")
        total = CacheCounters()
        for blob in blobs:
            if blob is None:
                continue
            for name, amount in msgspec.msgpack.decode(cast(bytes, blob), type=dict[str, int | float]).items():
                setattr(total, name, getattr(total, name) + amount)
        return total.snapshot(keys=keys, tags=tags, reclaiming=0)

    async def _count_keys(self, pattern: str) -> int:
        count, cursor = 0, 0
        while True:
            cursor, names = await self._breaker.call(self._client.scan, cursor, pattern, SCAN_BATCH)
            count += len(names)
            if not cursor:
                return count
