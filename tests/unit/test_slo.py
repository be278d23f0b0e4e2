"""Service level objectives: good and bad requests, burn rates over the multi-window pairs, short uptime, merging."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from application.prometheus import prometheus_text
from domain.metrics import RequestSample
from domain.metrics_report import report
from domain.slo import WINDOWS, BurnWindow, Objective, SloCounter, SloSummary, latency_objective
from infrastructure.memory.metrics import InMemoryMetrics
from presentation.settings import SettingsError, load_settings
from tests.fakes import FakeClock

AVAILABILITY = Objective("availability", 99.9)


def metrics(clock: FakeClock, *objectives: Objective, process: str = "local") -> InMemoryMetrics:
    return InMemoryMetrics(clock, objectives=objectives or (AVAILABILITY,), process=process)


def requests(recorded: InMemoryMetrics, good: int, bad: int, status: int = 500) -> None:
    for _ in range(good):
        recorded.record(RequestSample("GET /x", 200, 0.01))
    for _ in range(bad):
        recorded.record(RequestSample("GET /x", status, 0.01))


def summary(*recorded: InMemoryMetrics, name: str = "availability") -> SloSummary:
    slo = report([one.state() for one in recorded]).slo
    assert slo is not None
    return slo[name]


def test_errors_now_burn_every_window_fast() -> None:
    clock = FakeClock()
    recorded = metrics(clock)
    requests(recorded, good=980, bad=20)
    clock.advance(30)
    availability = summary(recorded)
    assert (availability.good, availability.bad, availability.status) == (980, 20, "fast_burn")
    assert {name: window.burn_rate for name, window in availability.windows.items()} == dict.fromkeys(
        ("5m", "30m", "1h", "6h"), 20.0
    )  # 2 % bad against a 0.1 % budget
    assert availability.fast_burn.firing
    assert availability.windows["5m"] == BurnWindow(good=980, bad=20, burn_rate=20.0, covers_s=30.0, partial=True)


def test_old_errors_leave_the_short_windows_first_and_burn_slowly() -> None:
    clock = FakeClock()
    recorded = metrics(clock)
    requests(recorded, good=900, bad=100)
    clock.advance(10 * 60)
    requests(recorded, good=10_000, bad=0)
    availability = summary(recorded)
    windows = {name: window.burn_rate for name, window in availability.windows.items()}
    assert windows["5m"] == 0.0
    assert windows["1h"] == windows["30m"] == windows["6h"] == pytest.approx(100 / 11_000 / 0.001, abs=0.001)
    assert (availability.fast_burn.firing, availability.slow_burn.firing, availability.status) == (
        False,
        True,
        "slow_burn",
    )

    clock.advance(6 * 3600)  # every window has moved past both minutes; the lifetime counts stay
    later = summary(recorded)
    assert (later.status, later.good, later.bad) == ("ok", 10_900, 100)
    assert {window.good + window.bad for window in later.windows.values()} == {0}
    assert not any(window.partial for window in later.windows.values())


def test_a_429_spends_no_budget_and_a_503_does() -> None:
    clock = FakeClock()
    recorded = metrics(clock)
    requests(recorded, good=0, bad=3, status=429)
    requests(recorded, good=0, bad=2, status=503)
    assert (summary(recorded).good, summary(recorded).bad) == (3, 2)


def test_latency_counts_what_the_user_waited_for() -> None:
    clock = FakeClock()
    recorded = metrics(clock, latency_objective("99:300"))
    for sample in (
        RequestSample("GET /x", 200, 0.2),
        RequestSample("GET /x", 200, 0.2, queue=0.2),  # 400 ms end to end
        RequestSample("GET /x", 500, 0.01),  # fast, and good for latency whatever its status
        RequestSample("GET /x", 200, 9.0, ttfb=0.05),  # a long download that started at once
    ):
        recorded.record(sample)
    latency = summary(recorded, name="latency")
    assert (latency.good, latency.bad, latency.threshold_ms, latency.target) == (3, 1, 300.0, 99.0)


def test_processes_add_their_counts() -> None:
    clock = FakeClock()
    first, second = metrics(clock, process="a"), metrics(clock, process="b")
    requests(first, good=10, bad=0)
    requests(second, good=5, bad=5)
    merged = summary(first, second)
    assert (merged.good, merged.bad, merged.windows["5m"].bad) == (15, 5, 5)


def test_nothing_is_computed_while_no_objective_is_set() -> None:
    recorded = InMemoryMetrics(FakeClock())
    requests(recorded, good=1, bad=1)
    assert report([recorded.state()]).slo is None
    assert "perfshop_slo" not in prometheus_text([recorded.state()])


def test_prometheus_counts_good_and_bad_by_objective() -> None:
    recorded = metrics(FakeClock(), AVAILABILITY, latency_objective("99.5:100"), process="h:1")
    requests(recorded, good=7, bad=2)
    families = {f.name: f.samples for f in text_string_to_metric_families(prometheus_text([recorded.state()]))}
    assert {s.labels["objective"]: s.value for s in families["perfshop_slo_good_requests"]} == {
        "availability": 7,
        "latency": 9,
    }
    assert {s.labels["objective"]: s.value for s in families["perfshop_slo_bad_requests"]} == {
        "availability": 2,
        "latency": 0,
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PERFSHOP_SLO_LATENCY", "300"),
        ("PERFSHOP_SLO_LATENCY", "100:300"),
        ("PERFSHOP_SLO_LATENCY", "99:0"),
        ("PERFSHOP_SLO_LATENCY", "99:abc"),
        ("PERFSHOP_SLO_AVAILABILITY", "100"),
        ("PERFSHOP_SLO_AVAILABILITY", "0"),
    ],
)
def test_a_bad_objective_is_refused_at_start_up(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_objectives_from_the_environment() -> None:
    settings = load_settings({"PERFSHOP_SLO_AVAILABILITY": "99.9", "PERFSHOP_SLO_LATENCY": "99:300"})
    assert settings.objectives() == [AVAILABILITY, Objective("latency", 99.0, 300.0)]


# Each step: how many minutes pass (some beyond the whole ring), then one request, good or bad, or None for a read.
RING_STEPS = st.lists(
    st.tuples(st.one_of(st.integers(0, 9), st.integers(0, 400)), st.one_of(st.none(), st.booleans())), max_size=40
)


@given(RING_STEPS)
def test_the_minute_ring_counts_exactly_each_windows_last_minutes(steps: list[tuple[int, bool | None]]) -> None:
    counter, minute = SloCounter(AVAILABILITY), 10_000
    ring = counter.ring
    counted: list[tuple[int, bool]] = []  # (minute, bad)
    for gap, bad in steps:
        minute += gap
        if bad is None:
            ring.advance(minute)
            expected = [[one for at, one in counted if at > minute - length] for _, length in WINDOWS]
            assert ring.lifetime() == (
                [bad for _, bad in counted].count(False),
                [bad for _, bad in counted].count(True),
            )
            assert ring.windows() == (
                tuple(kept.count(False) for kept in expected),
                tuple(kept.count(True) for kept in expected),
            )
        else:
            counter.record(500 if bad else 200, 0.0, minute)
            counted.append((minute, bad))
