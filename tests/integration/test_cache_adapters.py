"""One behavioural suite for every CachePort adapter: the in-process cache and Redis (with its L1) act alike."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from domain.caching import ABSENT, Absence
from domain.items import Item
from domain.ports import CachePort
from infrastructure.memory.cache import CacheManager
from infrastructure.redis.cache import RedisCache
from infrastructure.redis.client import make_redis_client
from tests.fakes import FakeClock, ParkedRow
from tests.redis_time import pass_redis_time
from tests.services import REDIS_URL, fresh_redis_prefix, until

# Time passes only when a test says so: on the fake clock for the adapter and its L1, and inside Redis by moving
# every expiry under the test's prefix into the past on the server.
TTL = 10.0


@dataclass
class Subject:
    """A cache under test and the way time passes for it."""

    cache: CachePort
    pass_time: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    clock = FakeClock()
    if request.param == "memory":

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        yield Subject(CacheManager(default_ttl=300, clock=clock), advance)
        return
    with fresh_redis_prefix("suite") as prefix:
        # A generous timeout: these tests check semantics, not how the cache copes with a slow server.
        cache = RedisCache(
            make_redis_client(REDIS_URL, 2.0),
            prefix=prefix,
            timeout=2.0,
            l1=lambda: CacheManager(default_ttl=5, clock=clock),
            l1_ttl=5,
            clock=clock,
        )

        async def advance_both(seconds: float) -> None:
            await pass_redis_time(prefix, seconds)
            clock.advance(seconds)

        await cache.start()
        try:
            yield Subject(cache, advance_both)
        finally:
            await cache.close()


ITEM = Item(
    id=42,
    name="lamp",
    price=19.99,
    description="",
    stock=3,
    created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
)


async def test_the_briefs_example_runs_as_written(subject: Subject) -> None:
    cache = subject.cache
    await cache.set("items:list:1", [{"id": 1}], ttl=60)
    await cache.tag("items:list:1", "items", "items:list")
    await cache.set("items:42", {"id": 42}, ttl=120)
    await cache.tag("items:42", "items", "items:detail")
    assert await cache.get("items:list:1") == [{"id": 1}]
    assert await cache.invalidate_by_tag("items:list") == 1
    assert await cache.get("items:list:1") is None
    assert await cache.get("items:42") == {"id": 42}
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (2, 1, 66.7)
    assert (stats["invalidations"], stats["invalidated_keys"]) == (1, 1)


async def test_values_round_trip_as_the_type_asked_for(subject: Subject) -> None:
    await subject.cache.set("items:42", ITEM)
    await subject.cache.set("numbers", (1, 2.5, "three"))
    assert await subject.cache.get("items:42", as_type=Item) == ITEM
    assert await subject.cache.get("items:42", as_type=Item) == ITEM  # again: from L1 where there is one
    assert list(await subject.cache.get("numbers", as_type=tuple) or ()) == [1, 2.5, "three"]


async def test_an_entry_lives_for_its_ttl_and_no_longer(subject: Subject) -> None:
    await subject.cache.set("short", "v", ttl=TTL)
    await subject.pass_time(TTL / 5)
    assert await subject.cache.get("short") == "v"
    await subject.pass_time(TTL)
    assert await subject.cache.get("short") is None


async def test_invalidate_removes_one_key_and_reports_whether_it_was_cached(subject: Subject) -> None:
    await subject.cache.set("a", 1)
    await subject.cache.set("b", 2)
    assert await subject.cache.invalidate("a") is True
    assert await subject.cache.invalidate("a") is False
    assert await subject.cache.get("a") is None
    assert await subject.cache.get("b") == 2


async def test_a_new_value_keeps_the_tags_and_tagging_a_missing_key_does_nothing(subject: Subject) -> None:
    await subject.cache.set("kept", 1)
    await subject.cache.tag("kept", "t")
    await subject.cache.set("kept", 2)
    await subject.cache.tag("never-stored", "t")
    await subject.cache.set("other", 3)
    assert await subject.cache.invalidate_by_tag("t") == 1
    assert await subject.cache.get("kept") is None
    assert await subject.cache.get("never-stored") is None
    assert await subject.cache.get("other") == 3


async def test_an_expired_key_loses_its_tags(subject: Subject) -> None:
    await subject.cache.set("k", 1, ttl=TTL / 2)
    await subject.cache.tag("k", "t")
    await subject.pass_time(TTL)
    await subject.cache.set("k", 2)  # stored anew: the expired entry's tags went with it
    assert await subject.cache.invalidate_by_tag("t") == 0
    assert await subject.cache.get("k") == 2


async def test_concurrent_misses_share_one_load(subject: Subject) -> None:
    calls = 0
    release = asyncio.Event()

    async def load() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"n": 1}

    waiters = [asyncio.create_task(subject.cache.get_or_load("k", load, tags=("t",))) for _ in range(5)]
    await until(lambda: subject.cache.get_stats()["coalesced"] == 4)
    release.set()
    results = await asyncio.gather(*waiters)
    assert results == [({"n": 1}, False)] * 5
    assert calls == 1
    assert await subject.cache.get_or_load("k", load) == ({"n": 1}, True)
    stats = subject.cache.get_stats()
    assert (stats["loads"], stats["coalesced"], stats["misses"], stats["hits"]) == (1, 4, 5, 1)
    assert await subject.cache.invalidate_by_tag("t") == 1


async def test_a_cancelled_first_caller_does_not_cancel_the_load_for_the_others(subject: Subject) -> None:
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "loaded"

    first = asyncio.create_task(subject.cache.get_or_load("k", load))
    await until(lambda: subject.cache.get_stats()["loads"] == 1)
    second = asyncio.create_task(subject.cache.get_or_load("k", load))
    await until(lambda: subject.cache.get_stats()["coalesced"] == 1)
    first.cancel()
    release.set()
    assert await second == ("loaded", False)
    assert first.cancelled()
    assert await subject.cache.get("k") == "loaded"


async def test_a_loader_error_reaches_every_waiter_and_is_not_cached(subject: Subject) -> None:
    release = asyncio.Event()

    async def fail() -> str:
        await release.wait()
        raise LookupError("database says no")

    waiters = [asyncio.create_task(subject.cache.get_or_load("k", fail)) for _ in range(3)]
    await until(lambda: subject.cache.get_stats()["coalesced"] == 2)
    release.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [LookupError] * 3
    assert await subject.cache.get("k") is None
    assert subject.cache.get_stats()["load_errors"] == 1

    async def works() -> str:
        return "fresh"

    assert await subject.cache.get_or_load("k", works) == ("fresh", False)
    assert await subject.cache.get("k") == "fresh"


@pytest.mark.parametrize("invalidate", ["key", "tag", "set"])
async def test_a_load_that_read_before_an_invalidation_does_not_store_its_stale_value(
    subject: Subject, invalidate: str
) -> None:
    database = ParkedRow(name="old")
    loading = asyncio.create_task(subject.cache.get_or_load("items:1", database.read, tags=("items", "items:detail")))
    await database.parked.wait()
    database.row["name"] = "new"  # the write commits, then its invalidation runs
    if invalidate == "key":
        await subject.cache.invalidate("items:1")
    elif invalidate == "tag":
        await subject.cache.invalidate_by_tag("items:detail")
    else:
        await subject.cache.set("items:1", dict(database.row))
    database.release.set()
    assert await loading == ({"name": "old"}, False)  # the caller that asked before the write gets what it read
    assert await subject.cache.get("items:1") == (None if invalidate != "set" else {"name": "new"})
    assert subject.cache.get_stats()["stale_writes_rejected"] == 1


async def test_read_through_stores_with_tags_and_counts_hits_and_misses(subject: Subject) -> None:
    async def load() -> Item:
        return ITEM

    assert await subject.cache.get_or_load("items:42", load, ttl=TTL * 10, tags=("items",), as_type=Item) == (
        ITEM,
        False,
    )
    assert await subject.cache.get_or_load("items:42", load, as_type=Item) == (ITEM, True)
    assert await subject.cache.get_or_load("items:42", load, as_type=Item) == (ITEM, True)
    assert await subject.cache.invalidate_by_tag("items") == 1
    stats = subject.cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["loads"], stats["hit_rate"]) == (2, 1, 1, 66.7)
    assert stats["backend_errors"] == 0
    cluster = await subject.cache.cluster_stats()
    assert (cluster["hits"], cluster["misses"], cluster["invalidated_keys"]) == (2, 1, 1)


ABSENCE = Absence(ttl=TTL, tags=("items:missing",))


async def test_an_absence_is_remembered_for_its_ttl_and_counted_as_a_negative_hit(subject: Subject) -> None:
    reads = 0

    async def missing() -> None:
        nonlocal reads
        reads += 1

    for _ in range(3):
        await subject.cache.get_or_load("items:7", missing, ttl=TTL * 10, tags=("items",), absence=ABSENCE)
    assert await subject.cache.get_or_load("items:7", missing, absence=ABSENCE) == (None, True)
    assert reads == 1
    stats = subject.cache.get_stats()
    assert (stats["hits"], stats["negative_hits"], stats["misses"]) == (3, 3, 1)
    assert (await subject.cache.cluster_stats())["negative_hits"] == 3

    await subject.pass_time(TTL + 1)  # the absence's own TTL, not the entry's
    assert await subject.cache.get_or_load("items:7", missing, absence=ABSENCE) == (None, False)
    assert reads == 2
    assert await subject.cache.invalidate_by_tag("items:missing") == 1  # remembered under the absence's tags
    assert await subject.cache.get_or_load("items:7", missing, tags=("items",), absence=ABSENCE) == (None, False)
    assert await subject.cache.invalidate_by_tag("items") == 1  # and under the entry's own


async def test_a_none_without_an_absence_is_an_ordinary_value(subject: Subject) -> None:
    async def nothing() -> None:
        return None

    await subject.cache.get_or_load("k", nothing)
    assert await subject.cache.get_or_load("k", nothing) == (None, True)
    assert subject.cache.get_stats()["negative_hits"] == 0


@pytest.mark.parametrize("found", [False, True], ids=["none read", "value read"])
async def test_an_absence_tag_invalidated_during_the_load_keeps_only_a_none_from_being_remembered(
    subject: Subject, found: bool
) -> None:
    released = asyncio.Event()
    parked = asyncio.Event()

    async def read() -> str | None:
        seen = "the row" if found else None
        parked.set()
        await released.wait()
        return seen

    loading = asyncio.create_task(subject.cache.get_or_load("items:7", read, tags=("items",), absence=ABSENCE))
    await parked.wait()
    await subject.cache.invalidate_by_tag("items:missing")  # a create committed after the read saw nothing
    released.set()
    assert await loading == ("the row" if found else None, False)
    # A value read is still good after a create; a None read before it may be the new id's.
    assert await subject.cache.get("items:7") == ("the row" if found else None)
    assert subject.cache.get_stats()["stale_writes_rejected"] == (0 if found else 1)


async def test_peek_counts_hits_and_absences_and_leaves_misses_to_get_or_load(subject: Subject) -> None:
    async def load() -> Item:
        return ITEM

    async def missing() -> None:
        return None

    assert await subject.cache.peek("items:42", Item) is None
    await subject.cache.get_or_load("items:42", load, as_type=Item)
    await subject.cache.get_or_load("items:7", missing, absence=ABSENCE)
    assert await subject.cache.peek("items:42", Item) == ITEM
    assert await subject.cache.peek("items:7", Item) is ABSENT
    assert await subject.cache.peek("items:7", Item) is ABSENT  # from Redis first, then from the L1
    stats = subject.cache.get_stats()
    assert (stats["hits"], stats["negative_hits"], stats["misses"]) == (3, 2, 2)
