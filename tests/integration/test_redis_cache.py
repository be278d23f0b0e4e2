"""What only the Redis adapter promises: a tag index that does not leak, fences across processes, cluster stats."""

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis.asyncio

from infrastructure.memory.cache import CacheManager
from infrastructure.redis import scripts
from infrastructure.redis.cache import RedisCache
from infrastructure.redis.client import make_redis_client
from infrastructure.redis.invalidation import (
    EVERYTHING,
    KEY,
    TAG,
    Invalidation,
    channel,
    decode_invalidation,
    new_origin,
)
from infrastructure.redis.protocol import ScriptArgs
from tests.fakes import FakeClock, ParkedRow
from tests.redis_time import pass_redis_time
from tests.servers import free_port, start_perfshop, stop, wait_healthy
from tests.services import REDIS_URL, eventually, fresh_redis_prefix, until

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> Iterator[str]:
    with fresh_redis_prefix("redis") as prefix:
        yield prefix


def redis_cache(prefix: str, **options: float) -> RedisCache:
    """A Redis cache under the test's prefix, with an L1, patient enough for a busy machine."""
    return RedisCache(
        make_redis_client(REDIS_URL, 2.0),
        prefix=prefix,
        timeout=2.0,
        l1=lambda: CacheManager(default_ttl=5),
        **options,  # type: ignore[arg-type]
    )


async def index_size(prefix: str) -> int:
    """How many key references all tag indexes under the prefix hold."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        total = 0
        async for name in client.scan_iter(match=f"{prefix}:t:*", count=1_000):
            total += await client.zcard(name)
        return total
    finally:
        await client.aclose()


async def fill_tagged(prefix: str, keys: int, ttl: float) -> None:
    """Store and tag `keys` keys through the adapter's own scripts, pipelined: the adapter's API would take
    a round trip per call."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    store, tag = client.register_script(scripts.SET), client.register_script(scripts.TAG)
    args = ScriptArgs(prefix, new_origin(), fence_window_ms=1)
    try:
        for first in range(0, keys, 5_000):
            pipe = client.pipeline(transaction=False)
            for n in range(first, min(first + 5_000, keys)):
                stored = args.set(f"k{n}", msgspec.msgpack.encode(n), int(ttl * 1000))
                await store(stored.keys, stored.args, pipe)
                tagged = args.tag(f"k{n}", ("leak", "leak:odd" if n % 2 else "leak:even"))
                await tag(tagged.keys, tagged.args, pipe)
            await pipe.execute()
    finally:
        await client.aclose()


async def test_the_tag_index_shrinks_with_its_expired_keys(prefix: str) -> None:
    ttl, prune_interval, keys = 600.0, 30.0, 100_000
    clock = FakeClock()
    cache = RedisCache(
        make_redis_client(REDIS_URL, 2.0), prefix=prefix, timeout=2.0, prune_interval=prune_interval, clock=clock
    )
    await cache.start()
    try:
        # One long-lived member keeps each index alive, so only pruning can shed the expired members.
        await cache.set("anchor", 0, ttl=10 * ttl)
        await cache.tag("anchor", "leak", "leak:odd", "leak:even")
        await fill_tagged(prefix, keys, ttl)
        assert await index_size(prefix) == 2 * keys + 3
        await pass_redis_time(prefix, 2 * ttl)  # every filled key has expired; the anchor lives on
        assert await index_size(prefix) == 2 * keys + 3  # expiry alone leaves the index as it was
        await until(lambda: clock.sleepers == 1)
        clock.advance(prune_interval)
        await eventually(lambda: index_size(prefix), lambda size: size == 3, within=60)
        assert await cache.invalidate_by_tag("leak") == 1
    finally:
        await cache.close()


async def test_each_script_publishes_the_message_its_encoder_made(prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    origin = new_origin()
    args = ScriptArgs(prefix, origin, fence_window_ms=60_000)
    published = [
        (args.set("items:1", msgspec.msgpack.encode(1), 60_000), Invalidation(origin, KEY, "items:1")),
        (args.tag("items:1", ("items:detail",)), Invalidation(origin, KEY, "items:1")),
        (args.invalidate_tag("items:detail"), Invalidation(origin, TAG, "items:detail")),
        (args.invalidate("items:1"), Invalidation(origin, KEY, "items:1")),
        (args.fence_all(), Invalidation(origin, EVERYTHING)),
    ]
    try:
        await pubsub.subscribe(channel(prefix))
        for call, expected in published:
            await client.register_script(getattr(scripts, call.script))(call.keys, call.args)
            async with asyncio.timeout(60):
                message = None
                while message is None:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            assert decode_invalidation(message["data"]) == expected
    finally:
        await pubsub.aclose()
        await client.aclose()


PEER = """
import asyncio, sys
from infrastructure.redis import scripts
from infrastructure.redis.cache import RedisCache
from infrastructure.redis.client import make_redis_client

async def main(url: str, prefix: str, what: str, name: str) -> None:
    cache = RedisCache(make_redis_client(url, 2.0), prefix=prefix, timeout=2.0)
    await (cache.invalidate(name) if what == "key" else cache.invalidate_by_tag(name))
    await cache.close()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.parametrize("invalidate", ["key", "tag"])
async def test_a_load_across_an_invalidation_in_another_process_is_not_stored(prefix: str, invalidate: str) -> None:
    cache = redis_cache(prefix)
    await cache.start()
    database = ParkedRow(name="old")
    try:
        loading = asyncio.create_task(cache.get_or_load("items:1", database.read, tags=("items", "items:detail")))
        await database.parked.wait()
        database.row["name"] = "new"  # committed; now another instance runs the invalidation
        name = "items:1" if invalidate == "key" else "items:detail"
        peer = await asyncio.create_subprocess_exec(sys.executable, "-c", PEER, REDIS_URL, prefix, invalidate, name)
        assert await peer.wait() == 0
        database.release.set()
        assert await loading == ({"name": "old"}, False)
        assert await cache.get("items:1") is None
        assert cache.get_stats()["stale_writes_rejected"] == 1
        assert await cache.get_or_load("items:1", database.read) == ({"name": "new"}, False)
    finally:
        await cache.close()


async def test_cluster_stats_sum_every_instance_sharing_the_prefix(prefix: str) -> None:
    first, second = redis_cache(prefix), redis_cache(prefix)
    await first.start()
    await second.start()
    try:
        await first.set("a", 1)
        await first.tag("a", "t")
        for _ in range(2):
            await first.get("a")
        for _ in range(3):
            await second.get("a")
        await second.get("missing")
        # Each instance publishes its counters every second; the asking one publishes its own first.
        stats = await eventually(second.cluster_stats, lambda stats: stats["hits"] >= 5)
        assert (stats["hits"], stats["misses"], stats["keys"], stats["tags"]) == (5, 1, 1, 1)
        assert second.get_stats()["hits"] == 3
    finally:
        await first.close()
        await second.close()


@pytest.mark.server
def test_serve_starts_several_workers_when_redis_is_shared(tmp_path: Path) -> None:
    port = free_port()
    with fresh_redis_prefix("workers") as prefix:
        env = {
            "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/perfshop.db",
            "PERFSHOP_DEMO_ITEMS": "0",
            "PERFSHOP_DEMO_ORDERS": "0",
            "PERFSHOP_WORKERS": "2",
            "PERFSHOP_REDIS_URL": REDIS_URL,
            "PERFSHOP_REDIS_PREFIX": prefix,
        }
        process = start_perfshop(port, env)
        try:
            wait_healthy(port, process)
        finally:
            stop(process)
