"""InMemoryMetrics with a fake clock: lifetime and window figures, rates, status classes, TTFB and memory."""

import math
import random
import tracemalloc

import msgspec
import pytest

from application.metrics import GetMetrics, MetricsStates, ShareFaults
from domain.metrics import RequestSample
from domain.metrics_report import report as report_of
from domain.slo import Objective
from infrastructure.memory.metrics import InMemoryMetrics
from tests.fakes import FakeClock


def sample(seconds: float, status: int = 200, endpoint: str = "GET /items", ttfb: float | None = None) -> RequestSample:
    return RequestSample(endpoint=endpoint, status=status, seconds=seconds, ttfb=ttfb)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_000.0)


async def test_lifetime_figures_follow_the_brief(clock: FakeClock) -> None:
    metrics = InMemoryMetrics(clock, window_s=60)
    for ms in (2, 4, 6, 8, 100):
        metrics.record(sample(ms / 1000))
    clock.advance(10)

    report = report_of([metrics.state()])

    items = report.endpoints["GET /items"]
    assert (items.count, items.min_ms, items.max_ms, items.avg_ms) == (5, 2.0, 100.0, 24.0)
    assert items.p50_ms == pytest.approx(6, rel=0.02)
    assert items.p99_ms == pytest.approx(100, rel=0.02)
    assert report.rps == 0.5  # 5 requests over 10 s of uptime
    assert report.uptime_s == 10


async def test_window_rate_counts_only_the_last_window_seconds(clock: FakeClock) -> None:
    metrics = InMemoryMetrics(clock, window_s=60)
    for _ in range(120):  # 120 requests during the first two seconds
        metrics.record(sample(0.010))
        clock.advance(1 / 60)
    clock.advance(28)  # uptime 30 s: the window is not full yet, so its rate is over the uptime

    early = report_of([metrics.state()])
    assert (early.rps_window, early.endpoints["GET /items"].window.count) == (4.0, 120)

    clock.advance(40)  # uptime 70 s: the first two seconds have left the 60 s window
    for _ in range(30):
        metrics.record(sample(0.200))
    late = report_of([metrics.state()])

    window = late.endpoints["GET /items"].window
    assert (window.count, window.rps, late.rps_window) == (30, 0.5, 0.5)
    assert window.p50_ms == pytest.approx(200, rel=0.02)
    assert window.avg_ms == 200
    assert late.endpoints["GET /items"].count == 150
    assert late.rps == pytest.approx(150 / 70, abs=0.001)


async def test_an_idle_endpoint_has_an_empty_window(clock: FakeClock) -> None:
    metrics = InMemoryMetrics(clock, window_s=5)
    metrics.record(sample(0.010))
    clock.advance(6)

    window = report_of([metrics.state()]).endpoints["GET /items"].window

    assert (window.count, window.avg_ms, window.p99_ms, window.rps) == (0, None, None, 0.0)


async def test_status_classes_and_the_five_slowest(clock: FakeClock) -> None:
    metrics = InMemoryMetrics(clock)
    for status in (200, 201, 204, 301, 404, 422, 500):
        metrics.record(sample(0.001, status=status))
    for rank, name in enumerate(("a", "b", "c", "d", "e", "f")):
        metrics.record(sample(0.010 * (rank + 2), endpoint=f"GET /{name}"))
    clock.advance(1)

    report = report_of([metrics.state()])

    assert report.endpoints["GET /items"].status == {"2xx": 3, "3xx": 1, "4xx": 2, "5xx": 1}
    assert [entry.endpoint for entry in report.top_5_slowest] == ["GET /f", "GET /e", "GET /d", "GET /c", "GET /b"]
    assert report.top_5_slowest[0].avg_ms == 70


async def test_ttfb_appears_only_for_streamed_responses(clock: FakeClock) -> None:
    metrics = InMemoryMetrics(clock)
    metrics.record(sample(2.0, endpoint="GET /export", ttfb=0.05))
    metrics.record(sample(0.01))

    report = report_of([metrics.state()])

    assert report.endpoints["GET /export"].ttfb_p50_ms == pytest.approx(50, rel=0.02)
    assert report.endpoints["GET /export"].p50_ms == pytest.approx(2000, rel=0.02)
    assert report.endpoints["GET /items"].ttfb_p50_ms is None


def test_memory_per_endpoint_does_not_grow_with_requests(clock: FakeClock) -> None:
    metrics = InMemoryMetrics(clock, window_s=60)

    def traffic(requests: int) -> None:
        for i in range(requests):
            metrics.record(sample((1 + i % 997) / 1000, status=200 + (i % 3) * 100))
            clock.advance(0.002)

    tracemalloc.start()
    try:
        traffic(80_000)  # 160 s at 500 requests/s: the 60 s window has been filled twice
        before = tracemalloc.get_traced_memory()[0]
        traffic(80_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 16_000  # bytes, for as many requests again


async def test_an_unchanged_endpoint_gives_its_last_state_again_until_a_request_or_a_second_changes_it(
    clock: FakeClock,
) -> None:
    metrics = InMemoryMetrics(clock, window_s=5)
    clock.advance(10)  # past the window's length: the span of the window rate stays put
    metrics.record(sample(0.010))
    first = metrics.state().endpoints["GET /items"]
    assert metrics.state().endpoints["GET /items"] is first

    metrics.record(sample(0.020))
    second = metrics.state().endpoints["GET /items"]
    assert (second.count, second.window_count, second.max_us) == (2, 2, 20_000)

    clock.advance(6)
    emptied = metrics.state().endpoints["GET /items"]
    assert (emptied.count, emptied.window_count) == (2, 0)
    assert metrics.state().endpoints["GET /items"] is emptied


async def test_a_read_reuses_the_figures_of_unchanged_endpoints_and_sees_every_change(clock: FakeClock) -> None:
    metrics = InMemoryMetrics(clock, window_s=5)
    read = GetMetrics(MetricsStates(metrics, None, ShareFaults(clock)))
    clock.advance(10)
    metrics.record(sample(0.010))
    metrics.record(sample(0.010, endpoint="GET /other"))
    first = await read()

    metrics.record(sample(0.030))
    second = await read()
    assert second.endpoints["GET /other"] is first.endpoints["GET /other"]
    assert (second.endpoints["GET /items"].count, second.endpoints["GET /items"].max_ms) == (2, 30.0)

    clock.advance(6)
    third = await read()
    assert third.endpoints["GET /items"].window.count == 0
    assert third == report_of([metrics.state()])  # the same figures as a summary made afresh


async def test_a_read_of_this_process_gives_the_figures_of_its_full_state_under_changing_traffic(
    clock: FakeClock,
) -> None:
    """The local read takes its percentiles from the live counts; the full state's spans must give the same."""
    rng = random.Random(5)
    metrics = InMemoryMetrics(clock, window_s=10, objectives=[Objective("availability", 99.9)])
    read = GetMetrics(MetricsStates(metrics, None, ShareFaults(clock)))
    for second in range(40):
        slow = 1.0 if second < 20 else 0.05  # the percentiles move down across many groups, then creep
        for _ in range(rng.randrange(0, 30)):
            endpoint = rng.choice(["GET /items", "GET /orders", "GET /export"])
            metrics.record(
                RequestSample(
                    endpoint=endpoint,
                    status=rng.choice([200, 200, 404, 500]),
                    seconds=rng.lognormvariate(math.log(slow * 0.02), 0.8),
                    ttfb=rng.uniform(0, 0.01) if endpoint == "GET /export" else None,
                    queue=rng.expovariate(500) if endpoint != "GET /items" else None,
                )
            )
            clock.advance(rng.uniform(0, 0.05))
        clock.advance(rng.choice([0.0, 0.5, 1.0, 3.0]))
        local = await read("local")
        assert msgspec.json.encode(local) == msgspec.json.encode(report_of([metrics.state()]))
