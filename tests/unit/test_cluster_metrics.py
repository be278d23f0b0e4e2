"""Merging the metrics states of several processes, and the reads that choose which processes they cover."""

import asyncio
import contextlib
import logging
import math
import random
from collections import Counter

import pytest

from application.metrics import SLICE_ENTRIES, GetMetrics, MetricsStates, PublishMetrics, ShareFaults
from domain.errors import InvalidInput
from domain.histogram import Span
from domain.metrics import ProcessMetrics, RequestSample
from domain.metrics_report import bucket_entries, by_endpoint, merge, report
from infrastructure.memory.metrics import InMemoryMetrics
from presentation.app import publish_every
from tests.fakes import FakeClock, FakeMetricsShare

ENDPOINT = "GET /items/{item_id}"


def durations(n: int, seed: int = 7) -> list[float]:
    """Request times in seconds: a log-normal body around 20 ms with a slow tail."""
    rng = random.Random(seed)
    return [rng.lognormvariate(math.log(0.020), 0.8) for _ in range(n)]


def processes(values: list[float], count: int, clock: FakeClock) -> list[InMemoryMetrics]:
    """`count` processes that recorded `values` between them, round-robin, with statuses and TTFB."""
    metrics = [InMemoryMetrics(clock, process=f"p{i}") for i in range(count)]
    for i, seconds in enumerate(values):
        status = (200, 200, 404, 500)[i % 4]
        ttfb = seconds / 2 if i % 5 == 0 else None
        metrics[i % count].record(RequestSample(endpoint=ENDPOINT, status=status, seconds=seconds, ttfb=ttfb))
    return metrics


def counts(span: Span) -> Counter[int]:
    """A span's non-empty buckets by index."""
    return Counter({span.first + at: count for at, count in enumerate(span.counts) if count})


def test_the_merged_state_is_the_bucket_wise_sum_and_equals_one_process_seeing_everything() -> None:
    clock = FakeClock()
    values = durations(3_000)
    parts = [m.state().endpoints[ENDPOINT] for m in processes(values, 3, clock)]
    (alone,) = processes(values, 1, clock)

    merged = merge(parts)

    assert counts(merged.buckets) == sum((counts(part.buckets) for part in parts), Counter())
    assert counts(merged.window_buckets) == sum((counts(part.window_buckets) for part in parts), Counter())
    assert merged.count == sum(part.count for part in parts) == 3_000
    whole = alone.state().endpoints[ENDPOINT]
    assert (merged.buckets, merged.ttfb, merged.min_us, merged.max_us, merged.micros) == (
        whole.buckets,
        whole.ttfb,
        whole.min_us,
        whole.max_us,
        whole.micros,
    )
    assert [(s.status_class, s.count, s.buckets) for s in merged.series] == [
        (s.status_class, s.count, s.buckets) for s in whole.series
    ]


@pytest.mark.parametrize("count", [2, 5])
def test_merged_percentiles_are_within_2_percent_of_the_exact_ones(count: int) -> None:
    values = durations(20_000, seed=count)
    clock = FakeClock()
    states = [m.state() for m in processes(values, count, clock)]

    summary = report(states, scope="cluster").endpoints[ENDPOINT]

    ordered = sorted(round(v * 1_000_000) for v in values)
    for percent, estimate in ((50, summary.p50_ms), (95, summary.p95_ms), (99, summary.p99_ms)):
        exact_ms = ordered[math.ceil(percent * len(ordered) / 100) - 1] / 1000
        assert estimate == pytest.approx(exact_ms, rel=0.02), percent
    assert summary.status == {"2xx": 10_000, "3xx": 0, "4xx": 5_000, "5xx": 5_000}


def test_rates_of_processes_add_up_and_uptime_is_the_oldest() -> None:
    clock = FakeClock()
    old = InMemoryMetrics(clock, process="old")
    clock.advance(90)
    young = InMemoryMetrics(clock, process="young")
    for _ in range(100):
        old.record(RequestSample(endpoint=ENDPOINT, status=200, seconds=0.01))
        young.record(RequestSample(endpoint=ENDPOINT, status=200, seconds=0.01))
    clock.advance(10)  # old: 100 s of uptime, young: 10 s

    merged = report([old.state(), young.state()], scope="cluster")

    assert merged.rps == 100 / 100 + 100 / 10
    assert merged.rps_window == pytest.approx(
        100 / 60 + 100 / 10, abs=0.001
    )  # the young process's window spans its uptime only
    assert (merged.uptime_s, merged.processes, merged.endpoints[ENDPOINT].count) == (100, 2, 200)


async def test_a_cluster_read_counts_itself_live_and_the_others_from_their_publications() -> None:
    clock = FakeClock()
    share = FakeMetricsShare()
    own, other = InMemoryMetrics(clock, process="own"), InMemoryMetrics(clock, process="other")
    faults = ShareFaults(clock)
    for metrics, requests in ((own, 3), (other, 4)):
        for _ in range(requests):
            metrics.record(RequestSample(endpoint=ENDPOINT, status=200, seconds=0.01))
        await PublishMetrics(metrics, share, faults)()
    own.record(RequestSample(endpoint=ENDPOINT, status=200, seconds=0.01))  # after its publication
    get_metrics = GetMetrics(MetricsStates(own, share, faults))

    cluster, local = await get_metrics(), await get_metrics("local")

    assert (cluster.scope, cluster.processes, cluster.endpoints[ENDPOINT].count) == ("cluster", 2, 8)
    assert (local.scope, local.processes, local.endpoints[ENDPOINT].count) == ("local", 1, 4)


async def test_without_a_share_the_default_is_local_and_cluster_is_refused() -> None:
    clock = FakeClock()
    metrics = InMemoryMetrics(clock)
    get_metrics = GetMetrics(MetricsStates(metrics, None, ShareFaults(clock)))

    assert (await get_metrics()).scope == "local"
    with pytest.raises(InvalidInput, match="PERFSHOP_REDIS_URL"):
        await get_metrics("cluster")


async def test_a_share_fault_falls_back_to_this_process_with_one_warning_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    share = FakeMetricsShare()
    share.failing = True
    metrics = InMemoryMetrics(clock)
    metrics.record(RequestSample(endpoint=ENDPOINT, status=200, seconds=0.01))
    faults = ShareFaults(clock)
    get_metrics = GetMetrics(MetricsStates(metrics, share, faults))

    with caplog.at_level(logging.WARNING, logger="perfshop.metrics"):
        first = await get_metrics()
        await PublishMetrics(metrics, share, faults)()
        await get_metrics()
        clock.advance(61)
        await get_metrics()

    assert (first.scope, first.endpoints[ENDPOINT].count) == ("local", 1)
    assert first.cluster_error is not None
    assert "unavailable" in first.cluster_error
    assert [record.getMessage() for record in caplog.records] == [
        "metrics share: reading failed: the share is down (0 more faults in the last minute)",
        "metrics share: reading failed: the share is down (2 more faults in the last minute)",
    ]


async def test_a_large_cluster_read_gives_the_event_loop_back_between_bounded_slices() -> None:
    clock = FakeClock()
    share = FakeMetricsShare()
    rng = random.Random(5)
    processes = [InMemoryMetrics(clock, process=f"p{i}") for i in range(8)]
    for metrics in processes:
        for i in range(5_000):
            metrics.record(RequestSample(f"GET /e{i % 50}", 200, rng.lognormvariate(math.log(0.05), 0.6)))
    own = processes[0]
    share.states = {metrics.state().process: metrics.state() for metrics in processes[1:]}
    states = [own.state(), *share.states.values()]
    entries = sum(bucket_entries(group) for group in by_endpoint(states).values())
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    document = await GetMetrics(MetricsStates(own, share, ShareFaults(clock)))()
    counter.cancel()

    assert entries > 5 * SLICE_ENTRIES  # big enough to need slicing
    assert turns >= entries // SLICE_ENTRIES  # so no slice read much more than SLICE_ENTRIES bucket counts
    assert document == report(states, scope="cluster")


class LosesCancellation(FakeMetricsShare):
    """A share whose publication swallows a cancellation, as Python 3.11's asyncio.wait_for in the Redis client
    does when the call it waits for completes as the cancellation arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.publishing = asyncio.Event()

    async def publish(self, state: ProcessMetrics) -> None:
        self.publishing.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()  # until cancelled


async def test_publishing_stops_on_cancel_even_when_the_client_loses_the_cancellation() -> None:
    share = LosesCancellation()
    publish = PublishMetrics(InMemoryMetrics(FakeClock()), share, ShareFaults(FakeClock()))
    task = asyncio.create_task(publish_every(publish, 3600))
    await share.publishing.wait()

    task.cancel()

    done, _ = await asyncio.wait([task], timeout=60)
    assert task in done
    assert task.cancelled()
