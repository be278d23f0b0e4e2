"""X-Request-Start forms, clock skew and forgery, queue and end-to-end times, and Apdex arithmetic."""

import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.histogram import bucket_of
from domain.metrics import RequestSample
from domain.metrics_report import report
from domain.queueing import CountsWindow, Timings, apdex, queue_seconds, request_start
from infrastructure.memory.metrics import InMemoryMetrics
from tests.fakes import FakeClock

NOW = 1_800_000_000.25  # epoch seconds


@pytest.mark.parametrize(
    "value",
    [
        b"t=1800000000.200",  # NGINX t=${msec}
        b"t=1800000000200000",  # Apache t=%t, microseconds
        b"1800000000200",  # milliseconds
        b"1800000000200000",  # microseconds
        b"  t=1800000000.2  ",
        b"\t\xa0t=1800000000.2\x85\r\n",  # what str.strip() of the latin-1 text removes
    ],
)
def test_every_form_reads_as_the_same_instant(value: bytes) -> None:
    assert request_start(value) == pytest.approx(1_800_000_000.2)
    assert queue_seconds(value, NOW, 60) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        (b"t=1800000000.75", 0.0),  # 0.5 s ahead: clock skew, clamped
        (b"t=1800000001.26", "in_future"),  # more than 1 s ahead
        (b"t=1799999000.0", "too_old"),  # 1,000 s ago, beyond the 60 s allowed
        (b"t=1800000000.25", 0.0),
        (b"", "unparseable"),
        (b"t=abc", "unparseable"),
        (b"t=-5", "unparseable"),
        (b"1e9", "unparseable"),
        (b"t=1.2.3", "unparseable"),
        (b"99999999999999999999", "in_future"),  # absurd: millennia ahead
        (b"999999999999999999999", "unparseable"),  # longer than any form
        (b"1800000000.2000000000", "unparseable"),  # a fraction longer than nanoseconds
        (b"0", "too_old"),
    ],
)
def test_skewed_forged_and_absurd_values(value: bytes, outcome: float | str) -> None:
    assert queue_seconds(value, NOW, 60) == outcome


@pytest.mark.parametrize(
    "value",
    [
        *(b"t=", b" ", b"t= 5", b"t=t=5", b"T=5", b".5", b"5.", b"5 .2", b"1 5"),
        *(b"1e5", b"1E5", b"inf", b"nan", b"Infinity", b"1_000", b"-5", b"+5", b"0x10", b"5\x00"),
        "\u0665".encode(),  # an Arabic-Indic five, a digit to str.isdigit() and float() but not to this header
        "1\u00b2".encode("latin-1"),  # a superscript two
    ],
)
def test_what_float_or_a_unicode_digit_would_read_is_no_form(value: bytes) -> None:
    assert request_start(value) is None


# The documented forms as a pattern, to check the parser against on any bytes: regex `\s` and `\d` on the latin-1 text.
FORMS = re.compile(r"\s*(?:t=)?(\d{1,20}(?:\.\d{1,9})?)\s*")
HEADER_BYTES = st.binary(max_size=30) | st.lists(
    st.sampled_from([b"t=", b"1", b"9", b"0", b".", b" ", b"\t", b"\xa0", b"\x85", b"\x1c", b"e", b"-", b"_", b"\xb2"]),
    max_size=30,
).map(b"".join)


@given(HEADER_BYTES)
def test_the_parser_accepts_exactly_the_documented_forms(value: bytes) -> None:
    match = FORMS.fullmatch(value.decode("latin-1"))
    assert (request_start(value) is None) == (match is None)
    if match is not None:
        assert request_start(value) == request_start(match.group(1).encode())


@given(st.integers(-(2**20), 2**34))
def test_a_time_is_counted_in_the_bucket_of_its_microseconds(micros: int) -> None:
    timings = Timings(60)
    timings.add(micros / 1_000_000, 7)
    timings.window.advance(7)  # what a read does first: the second's values are counted into the histograms
    index = bucket_of(round(micros / 1_000_000 * 1_000_000))
    assert timings.histogram.counts[index] == timings.window.histogram.counts[index] == 1
    assert timings.histogram.total == timings.window.count == 1


def test_apdex_counts_satisfied_whole_and_tolerating_half() -> None:
    assert apdex((6, 2, 2)) == 0.7
    assert apdex((0, 0, 0)) is None
    assert apdex((0, 0, 5)) == 0.0


def metrics(clock: FakeClock) -> InMemoryMetrics:
    return InMemoryMetrics(clock, window_s=60, apdex_t_s=0.1)


def endpoint(recorded: InMemoryMetrics, name: str = "GET /x") -> dict[str, Any]:
    return msgspec.to_builtins(report([recorded.state()]).endpoints[name])  # type: ignore[no-any-return]


def test_apdex_zones_use_end_to_end_time_first_bytes_of_streams_and_every_5xx() -> None:
    clock = FakeClock()
    recorded = metrics(clock)
    for sample in (
        RequestSample("GET /x", 200, 0.05),  # satisfied
        RequestSample("GET /x", 404, 0.3),  # tolerating: a 4xx counts by its time
        RequestSample("GET /x", 200, 0.05, queue=0.1),  # 150 ms end to end: tolerating
        RequestSample("GET /x", 200, 0.05, queue=0.4),  # 450 ms end to end: frustrated
        RequestSample("GET /x", 500, 0.001),  # any 5xx: frustrated
        RequestSample("GET /x", 200, 30.0, ttfb=0.02),  # a stream counts by its first byte: satisfied
    ):
        recorded.record(sample)
    summary = endpoint(recorded)
    assert summary["apdex"] == round((2 + 2 / 2) / 6, 4)
    assert summary["window"]["apdex"] == summary["apdex"]
    clock.advance(61)
    assert "apdex" not in endpoint(recorded)["window"]


def test_end_to_end_percentiles_are_of_each_requests_own_sum() -> None:
    recorded = metrics(FakeClock())
    # Long queues come with short service times and the other way round: every end-to-end time is 101 ms.
    for queue, service in ((0.1, 0.001), (0.001, 0.1)) * 50:
        recorded.record(RequestSample("GET /x", 200, service, queue=queue))
    summary = endpoint(recorded)
    assert summary["e2e_max_ms"] == 101.0
    # Within a bucket's width (1/64) of 101 ms: never near the 200 ms a sum of percentiles would give.
    assert summary["e2e_p50_ms"] == pytest.approx(101, rel=1 / 64)
    assert summary["e2e_p99_ms"] == pytest.approx(101, rel=1 / 64)
    assert summary["queue_max_ms"] == 100.0
    assert summary["queue_p99_ms"] + summary["p99_ms"] > 190  # what a sum would claim


def test_requests_without_a_queue_time_have_no_queue_keys() -> None:
    recorded = metrics(FakeClock())
    recorded.record(RequestSample("GET /x", 200, 0.01))
    assert not [key for key in endpoint(recorded) if key.startswith(("queue_", "e2e_"))]


def test_a_counts_window_forgets_whole_seconds_that_left_it() -> None:
    window = CountsWindow(3, 2)
    window.add(10, 0)
    window.add(11, 1)
    window.add(11, 1)
    assert window.counts(12) == (1, 2)
    assert window.counts(13) == (0, 2)
    window.add(16, 0)
    assert window.counts(16) == (1, 0)


@given(st.lists(st.tuples(st.integers(0, 9), st.one_of(st.none(), st.integers(0, 1))), max_size=60))
def test_a_counts_window_read_at_any_pace_counts_exactly_its_last_seconds(steps: list[tuple[int, int | None]]) -> None:
    window, second = CountsWindow(5, 2), 1_000
    counted: list[tuple[int, int]] = []  # (second, kind)
    for gap, kind in steps:
        second += gap
        if kind is None:
            kept = [one for at, one in counted if at > second - 5]
            assert window.counts(second) == (kept.count(0), kept.count(1))
        else:
            window.add(second, kind)
            counted.append((second, kind))
