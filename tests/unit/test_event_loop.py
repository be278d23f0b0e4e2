"""Event-loop lag and requests in the app: recorded on the fake clock, windowed, merged, summarized, exposed."""

import asyncio
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from application.metrics import SampleLoopLag
from application.prometheus import prometheus_text
from domain.metrics import RequestSample
from domain.metrics_report import report
from infrastructure.clock import REAL_CLOCK
from infrastructure.memory.metrics import InMemoryMetrics
from tests.fakes import FakeClock
from tests.services import until

WINDOW_S = 60


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_000.0)


def metrics_on(clock: FakeClock, process: str = "local") -> InMemoryMetrics:
    return InMemoryMetrics(clock, window_s=WINDOW_S, process=process, loop_interval_s=0.05)


async def test_the_sampler_records_how_late_the_loop_woke_it(clock: FakeClock) -> None:
    metrics = metrics_on(clock)
    sampler = asyncio.create_task(SampleLoopLag(metrics, clock, 0.05)())
    try:
        for late in (0.0, 0.0, 0.2, 0.0):
            await until_sleeping(clock)
            clock.advance(0.05 + late)  # the wake-up comes `late` after the interval asked for
        await until_sleeping(clock)
    finally:
        sampler.cancel()
    lag = report([metrics.state()]).event_loop
    assert lag is not None
    assert (lag.lag_ms.samples, lag.lag_ms.max, lag.interval_ms) == (4, 200.0, 50.0)
    assert (lag.lag_ms.p50 or 0) < 0.01  # three wake-ups on time
    assert lag.lag_ms.window.max == 200.0
    assert 195 <= (lag.lag_ms.p99 or 0) <= 200  # a bucket's estimate, never above the largest value seen


async def until_sleeping(clock: FakeClock) -> None:
    await until(lambda: clock.sleepers > 0)


async def test_a_loop_blocked_for_a_known_time_shows_that_lag() -> None:
    metrics = InMemoryMetrics(REAL_CLOCK, loop_interval_s=0.01)
    sampler = asyncio.create_task(SampleLoopLag(metrics, REAL_CLOCK, 0.01)())
    await asyncio.sleep(0)  # the sampler is asleep now
    time.sleep(0.2)  # noqa: ASYNC251 - blocking the loop is the point
    await until(lambda: metrics.state().event_loop.lag.count > 0)  # type: ignore[union-attr]
    sampler.cancel()
    lag = report([metrics.state()]).event_loop
    assert lag is not None
    # At least the blocked time less the interval; the upper bound only rules out nonsense on a busy machine.
    assert 190 - 10 <= (lag.lag_ms.max or 0) < 60_000


def test_lag_leaves_the_window_but_not_the_lifetime(clock: FakeClock) -> None:
    metrics = metrics_on(clock)
    metrics.lag(0.3)
    clock.advance(WINDOW_S + 1)
    metrics.lag(0.001)
    lag = report([metrics.state()]).event_loop
    assert lag is not None
    assert (lag.lag_ms.samples, lag.lag_ms.max) == (2, 300.0)
    assert (lag.lag_ms.window.samples, lag.lag_ms.window.max) == (1, 1.0)


def enter_and_leave(metrics: InMemoryMetrics, entering: int, leaving: int) -> None:
    """`entering` requests enter the app, then `leaving` of them leave it, as each is recorded."""
    for _ in range(entering):
        metrics.enter()
    for _ in range(leaving):
        metrics.record(RequestSample("GET /items", 200, 0.001))


def test_requests_in_the_app_now_and_at_most_during_the_window(clock: FakeClock) -> None:
    metrics = metrics_on(clock)
    enter_and_leave(metrics, entering=5, leaving=3)
    in_flight = report([metrics.state()]).event_loop.in_flight  # type: ignore[union-attr]
    assert (in_flight.now, in_flight.window_max) == (2, 5)
    clock.advance(WINDOW_S + 1)
    in_flight = report([metrics.state()]).event_loop.in_flight  # type: ignore[union-attr]
    assert (in_flight.now, in_flight.window_max) == (2, 2)  # the peak has left the window; now is still 2


def test_processes_merge_their_loops(clock: FakeClock) -> None:
    first, second = metrics_on(clock, "a"), metrics_on(clock, "b")
    first.lag(0.1)
    second.lag(0.4)
    first.enter()
    second.enter()
    second.enter()
    loop = report([first.state(), second.state()]).event_loop
    assert loop is not None
    assert (loop.lag_ms.samples, loop.lag_ms.max, loop.in_flight.now) == (2, 400.0, 3)


def test_no_sampler_means_no_event_loop_block(clock: FakeClock) -> None:
    metrics = InMemoryMetrics(clock)
    metrics.enter()
    metrics.lag(0.5)
    assert report([metrics.state()]).event_loop is None
    assert "perfshop_event_loop" not in prometheus_text([metrics.state()])


def test_prometheus_exposes_the_lag_histogram_and_the_in_flight_gauge(clock: FakeClock) -> None:
    metrics = metrics_on(clock, "host:1")
    for seconds in (0.0001, 0.002, 0.03, 0.7):
        metrics.lag(seconds)
    metrics.enter()
    parsed = {
        family.name: family.samples for family in text_string_to_metric_families(prometheus_text([metrics.state()]))
    }
    lag = parsed["perfshop_event_loop_lag_seconds"]
    buckets = [(float(s.labels["le"]), s.value) for s in lag if s.name.endswith("_bucket")]
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)
    assert dict(buckets)[0.0025] == 2
    assert dict(buckets)[float("inf")] == 4
    assert next(s.value for s in lag if s.name.endswith("_sum")) == pytest.approx(0.7321)
    assert [(s.labels["process"], s.value) for s in parsed["perfshop_http_requests_in_flight"]] == [("host:1", 1)]


def test_a_peak_between_two_looks_stays_in_the_window_after_its_requests_left(clock: FakeClock) -> None:
    metrics = metrics_on(clock)
    enter_and_leave(metrics, entering=4, leaving=4)
    metrics.lag(0.001)  # the sampler notes the peak
    clock.advance(WINDOW_S - 1)
    in_flight = report([metrics.state()]).event_loop.in_flight  # type: ignore[union-attr]
    assert (in_flight.now, in_flight.window_max) == (0, 4)
    clock.advance(2)
    in_flight = report([metrics.state()]).event_loop.in_flight  # type: ignore[union-attr]
    assert (in_flight.now, in_flight.window_max) == (0, 0)
