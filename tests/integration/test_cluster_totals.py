"""The cluster's counters in the real Redis: every process counted exactly once, live or departed, and the totals
never decrease when a process stops cleanly, crashes, is cut off and comes back, or restarts."""

import pytest
from redis.asyncio import Redis

from domain.counters import Counters, add_counters, counters_of
from domain.metrics import RequestSample
from domain.slo import Objective
from infrastructure.memory.metrics import InMemoryMetrics
from infrastructure.redis.counters import RedisCounters
from infrastructure.redis.metrics import RedisMetricsShare
from tests.fakes import FakeClock
from tests.services import eventually

pytestmark = pytest.mark.redis

EXPIRY_S = 30.0  # no publication expires by itself during a test: crashes are alive keys deleted (what expiry does)


class Process:
    """One process's metrics, recorded on a fake clock, and its share adapter."""

    def __init__(self, redis_client: Redis, redis_prefix: str, name: str, expiry_s: float = EXPIRY_S) -> None:
        self.clock = FakeClock()
        self.metrics = InMemoryMetrics(
            self.clock,
            process=name,
            loop_interval_s=0.05,
            objectives=(Objective("availability", 99.9), Objective("latency", 99, 300)),
        )
        self.share = RedisMetricsShare(redis_client, redis_prefix, expiry_s=expiry_s)

    def serve(self, requests: int, status: int = 200) -> None:
        for i in range(requests):
            self.metrics.record(RequestSample(endpoint=f"GET /e{i % 3}", status=status, seconds=(i % 7) / 100))
        self.metrics.lag(0.003)
        self.clock.advance(1)

    def counters(self) -> Counters:
        return counters_of(self.metrics.state())

    async def publish(self) -> None:
        await self.share.publish(self.metrics.state())


def requests(counters: Counters) -> int:
    return sum(sum(buckets.counts) for classes in counters.requests.values() for buckets in classes.values())


async def crash(redis_client: Redis, redis_prefix: str) -> None:
    """Every publisher's alive key gone, as when it expires after a crash."""
    keys = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}:metrics:alive:*")]
    await redis_client.delete(*keys)


async def test_every_process_is_counted_once_however_often_it_publishes(redis_client: Redis, redis_prefix: str) -> None:
    a, b = Process(redis_client, redis_prefix, "a"), Process(redis_client, redis_prefix, "b")
    for _ in range(3):
        a.serve(10)
        b.serve(4, status=503)
        await a.publish()
        await b.publish()

    totals = await a.share.totals()

    assert totals == add_counters([a.counters(), b.counters()])
    assert requests(totals) == 42
    assert totals.slo["availability"] == (30, 12)
    assert totals.lag is not None
    assert sum(totals.lag.counts) == 6


async def test_a_clean_stop_keeps_the_last_counters_in_the_totals(redis_client: Redis, redis_prefix: str) -> None:
    a, b = Process(redis_client, redis_prefix, "a"), Process(redis_client, redis_prefix, "b")
    a.serve(10)
    await a.publish()
    b.serve(5)
    await b.publish()
    b.serve(2)  # served after its last publication: the leave publishes them

    await b.share.leave(b.metrics.state())

    assert await a.share.totals() == add_counters([a.counters(), b.counters()])
    assert [state.process for state in await a.share.live()] == ["a"]
    assert await redis_client.hlen(f"{redis_prefix}:metrics:counters") == 1  # a's: b's moved to the departed sum


async def test_a_crashed_process_is_folded_once_by_whichever_reader_comes_first(
    redis_client: Redis, redis_prefix: str
) -> None:
    a, b, reader = (
        Process(redis_client, redis_prefix, "a"),
        Process(redis_client, redis_prefix, "b"),
        Process(redis_client, redis_prefix, "reader"),
    )
    a.serve(10)
    b.serve(6, status=500)
    await a.publish()
    await b.publish()
    before = await reader.share.totals()

    await crash(redis_client, redis_prefix)
    after = [await a.share.totals(), await reader.share.totals(), await b.share.totals()]

    assert before == after[0] == after[1] == after[2] == add_counters([a.counters(), b.counters()])
    assert await redis_client.hlen(f"{redis_prefix}:metrics:counters") == 0  # both folded, by the first reader only
    restarted = Process(redis_client, redis_prefix, "a")  # same host:pid, a new process
    restarted.serve(3)
    await restarted.publish()
    assert requests(await reader.share.totals()) == 19


async def test_totals_never_decrease_while_publications_really_expire(redis_client: Redis, redis_prefix: str) -> None:
    quick = [Process(redis_client, redis_prefix, name, expiry_s=0.3) for name in ("a", "b")]
    for process in quick:
        process.serve(5)
        await process.publish()
    reader = Process(redis_client, redis_prefix, "reader")
    expected = add_counters([process.counters() for process in quick])
    seen: list[Counters] = []

    async def read() -> int:
        seen.append(await reader.share.totals())
        return int(await redis_client.hlen(f"{redis_prefix}:metrics:counters"))

    await eventually(read, lambda live: live == 0)  # both expired and folded

    assert all(totals == expected for totals in seen)


async def test_a_process_cut_off_and_back_takes_its_counters_back_out_of_the_departed_sum(
    redis_client: Redis, redis_prefix: str
) -> None:
    a, b = Process(redis_client, redis_prefix, "a"), Process(redis_client, redis_prefix, "b")
    a.serve(10)
    b.serve(4)
    await a.publish()
    await b.publish()
    await crash(redis_client, redis_prefix)
    await b.share.totals()  # folds both
    await b.publish()

    a.serve(5)  # it was only cut off from Redis, and goes on counting
    await a.publish()

    assert await b.share.totals() == add_counters([a.counters(), b.counters()])
    assert requests(await b.share.totals()) == 19


async def test_a_process_written_off_long_ago_counts_only_what_it_serves_from_then_on(
    redis_client: Redis, redis_prefix: str
) -> None:
    a, b = Process(redis_client, redis_prefix, "a"), Process(redis_client, redis_prefix, "b")
    a.serve(10)
    await a.publish()
    a.serve(1)  # never published: lost when it is written off
    await crash(redis_client, redis_prefix)
    await b.share.totals()
    folded = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}:metrics:folded:*")]
    await redis_client.delete(*folded)  # as when it comes back after they were kept for a day

    await a.publish()  # written off: it starts afresh under a new id, from what it has counted now
    a.serve(4)
    await a.publish()

    assert requests(await b.share.totals()) == 10 + 4


@pytest.mark.parametrize("leaving", [False, True])
async def test_an_earlier_publication_landing_after_a_later_one_is_ignored(
    redis_client: Redis, redis_prefix: str, leaving: bool
) -> None:
    a = Process(redis_client, redis_prefix, "a")
    a.serve(3)
    earlier = a.counters()
    a.serve(4)
    later = a.counters()
    counters = RedisCounters(redis_client, redis_prefix, alive_ms=30_000)

    # A publication cancelled at shutdown may reach Redis after the leave that followed it.
    for sequence, published, last in ((2, later, leaving), (1, earlier, False)):
        async with redis_client.pipeline(transaction=False) as pipe:
            await counters.queue(pipe, published, sequence, leaving=last)
            counters.landed((await pipe.execute())[-1], published)

    assert await counters.totals() == later
    assert await redis_client.hlen(f"{redis_prefix}:metrics:counters") == (0 if leaving else 1)
