"""The in-process cache: the brief's contract, single-flight, fencing, bounds and large tags."""

import asyncio
import itertools

import pytest

from infrastructure.memory.cache import CacheManager
from tests.fakes import FakeClock


async def test_the_briefs_example_runs_as_written() -> None:
    data, item_data = [{"id": 1}], {"id": 42}
    cache = CacheManager(default_ttl=300)
    await cache.set("items:list:1", data, ttl=60)
    await cache.tag("items:list:1", "items", "items:list")
    await cache.set("items:42", item_data, ttl=120)
    await cache.tag("items:42", "items", "items:detail")
    assert await cache.invalidate_by_tag("items:list") == 1
    assert await cache.get("items:list:1") is None
    assert await cache.get("items:42") == item_data
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (1, 1, 50.0)
    assert (stats["invalidations"], stats["invalidated_keys"], stats["keys"]) == (1, 1, 1)


async def test_entries_expire_after_their_ttl_or_the_default() -> None:
    clock = FakeClock()
    cache = CacheManager(default_ttl=300, clock=clock)
    await cache.set("short", "a", ttl=60)
    await cache.set("default", "b")
    clock.advance(59.9)
    assert await cache.get("short") == "a"
    clock.advance(0.1)
    assert await cache.get("short") is None
    clock.advance(239.9)
    assert await cache.get("default") == "b"
    clock.advance(0.1)
    assert await cache.get("default") is None
    assert cache.get_stats()["expirations"] == 2


async def test_stats_time_hits_and_misses_including_the_load() -> None:
    clock = FakeClock()
    cache = CacheManager(clock=clock)

    async def slow_load() -> str:
        clock.advance(0.5)
        return "value"

    assert await cache.get_or_load("k", slow_load) == ("value", False)
    assert await cache.get_or_load("k", slow_load) == ("value", True)
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["loads"]) == (1, 1, 1)
    assert stats["avg_miss_ms"] == 500.0
    assert stats["avg_hit_ms"] == 0.0


async def test_invalidate_removes_one_key_and_reports_it() -> None:
    cache = CacheManager()
    await cache.set("a", 1)
    assert await cache.invalidate("a") is True
    assert await cache.invalidate("a") is False
    assert await cache.get("a") is None


async def test_concurrent_misses_share_one_load() -> None:
    cache = CacheManager()
    release = asyncio.Event()
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "v"

    callers = [asyncio.create_task(cache.get_or_load("k", load, tags=["t"])) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*callers) == [("v", False)] * 5
    assert calls == 1
    stats = cache.get_stats()
    assert (stats["loads"], stats["coalesced"], stats["misses"]) == (1, 4, 5)
    assert await cache.get("k") == "v"


async def test_a_cancelled_first_caller_does_not_cancel_the_load_for_the_others() -> None:
    cache = CacheManager()
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "v"

    first = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == ("v", False)
    assert first.cancelled()
    assert await cache.get("k") == "v"


async def test_a_loader_error_reaches_every_waiter_and_is_not_cached() -> None:
    cache = CacheManager()
    release = asyncio.Event()

    async def failing() -> str:
        await release.wait()
        raise LookupError("row vanished")

    callers = [asyncio.create_task(cache.get_or_load("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert [type(result) for result in results] == [LookupError] * 3

    async def works() -> str:
        return "fresh"

    assert await cache.get_or_load("k", works) == ("fresh", False)
    assert cache.get_stats()["load_errors"] == 1


@pytest.mark.parametrize("invalidate", ["key", "tag"])
async def test_a_load_that_read_before_an_invalidation_does_not_store_its_stale_value(invalidate: str) -> None:
    cache = CacheManager()
    database = {"items:42": "old"}
    parked, release = asyncio.Event(), asyncio.Event()

    async def load() -> str:
        row = database["items:42"]  # reads the old row...
        parked.set()
        await release.wait()  # ...and is held here while a writer commits
        return row

    reader = asyncio.create_task(cache.get_or_load("items:42", load, tags=["items", "items:detail"]))
    await parked.wait()
    database["items:42"] = "new"  # the write commits, then its event fires
    if invalidate == "key":
        await cache.invalidate("items:42")
    else:
        await cache.invalidate_by_tag("items:detail")
    release.set()

    assert await reader == ("old", False)  # the reader gets what it read...
    assert await cache.get("items:42") is None  # ...but it is not put back
    assert cache.get_stats()["stale_writes_rejected"] == 1


async def test_the_least_recently_used_key_is_evicted() -> None:
    cache = CacheManager(max_entries=3)
    for key in "abc":
        await cache.set(key, key)
    assert await cache.get("a") == "a"  # b is now the least recently used
    await cache.set("d", "d")
    assert [await cache.get(key) for key in "abcd"] == ["a", None, "c", "d"]
    assert cache.get_stats()["evictions"] == 1


async def test_the_tag_index_empties_as_keys_expire_are_evicted_or_invalidated() -> None:
    clock = FakeClock()
    cache = CacheManager(max_entries=100, clock=clock)
    for i in range(100):
        await cache.set(f"old:{i}", i, ttl=10)
        await cache.tag(f"old:{i}", "old", f"group:{i % 7}")
    clock.advance(11)
    for i in range(100):  # expired keys are reclaimed as new ones arrive, and the rest are evicted
        await cache.set(f"new:{i}", i, ttl=1000)
        await cache.tag(f"new:{i}", "new", f"shard:{i % 3}")
    assert cache.get_stats()["tags"] == 4  # "new" and three shards; every "old" tag is gone
    for i in range(50):
        await cache.set(f"newer:{i}", i)  # evicts half the "new" keys
    await cache.invalidate_by_tag("new")
    for i in range(50):
        await cache.invalidate(f"newer:{i}")
    stats = cache.get_stats()
    assert (stats["keys"], stats["tags"], stats["reclaiming"]) == (0, 0, 0)
    assert stats["expirations"] == 100


async def test_a_large_tag_is_gone_at_once_and_reclaimed_in_bounded_slices() -> None:
    cache = CacheManager(max_entries=10_000, cleanup_slice=100)
    for i in range(1000):
        await cache.set(f"k{i}", i)
        await cache.tag(f"k{i}", "big")
    await cache.set("other", "stays")

    assert await cache.invalidate_by_tag("big") == 1000
    assert await cache.get("k0") is None
    assert await cache.get("k999") is None
    assert cache.get_stats()["keys"] == 1
    reclaiming = [cache.get_stats()["reclaiming"]]
    while reclaiming[-1]:
        await asyncio.sleep(0)  # the reclaimer runs one slice per turn of the event loop
        reclaiming.append(cache.get_stats()["reclaiming"])
    steps = [before - after for before, after in itertools.pairwise(reclaiming)]
    assert max(steps) <= 100
    assert len(steps) >= 10
    assert await cache.get("other") == "stays"


async def test_a_key_stored_again_after_its_tag_was_invalidated_is_kept() -> None:
    cache = CacheManager(cleanup_slice=10)
    for i in range(50):
        await cache.set(f"k{i}", i)
        await cache.tag(f"k{i}", "big")
    await cache.invalidate_by_tag("big")
    await cache.set("k7", "fresh")
    await cache.tag("k7", "big")
    for _ in range(10):
        await asyncio.sleep(0)
    assert await cache.get("k7") == "fresh"
    assert cache.get_stats()["keys"] == 1
