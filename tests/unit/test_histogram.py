"""The log-linear histogram: its layout, its percentiles against exact nearest-rank values, and merging."""

import math
import random
from bisect import bisect_left, bisect_right

from hypothesis import given
from hypothesis import strategies as st

from domain.histogram import (
    BUCKETS,
    Histogram,
    Span,
    add_spans,
    bucket_bounds,
    bucket_of,
    percentiles_ms,
    percentiles_of,
)
from domain.queueing import Timings


def histogram_of(values: list[int]) -> Histogram:
    histogram = Histogram()
    for value in values:
        histogram.add(bucket_of(value))
    return histogram


def percentiles(values: list[int], percents: tuple[int, ...]) -> list[float | None]:
    """Percentiles of a histogram's span, as /metrics reads them."""
    return percentiles_of(histogram_of(values).span(), percents)


def nearest_rank(ordered: list[int], percent: int) -> int:
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_every_value_lies_in_a_bucket_at_most_one_64th_of_it_wide(micros: int) -> None:
    index = bucket_of(micros)
    lower, width = bucket_bounds(index)
    assert 0 <= index < BUCKETS
    assert lower <= micros < lower + width
    assert width == 1 or width <= lower / 64


def test_buckets_tile_the_range_without_gaps() -> None:
    ends = [sum(bucket_bounds(index)) for index in range(BUCKETS - 1)]
    assert ends == [bucket_bounds(index)[0] for index in range(1, BUCKETS)]


def test_percentiles_are_within_2_percent_of_exact_on_lognormal_latencies() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(math.log(12_000), 0.8)) for _ in range(200_000)]
    ordered = sorted(values)
    percents = (50, 90, 95, 99, 100)
    estimates = percentiles(values, percents)
    for percent, estimate in zip(percents, estimates, strict=True):
        exact = nearest_rank(ordered, percent)
        assert estimate is not None
        assert abs(estimate - exact) <= 0.02 * exact, (percent, estimate, exact)


def test_percentiles_are_within_half_a_percent_in_rank_on_a_bimodal_mix() -> None:
    # 85 % fast cache hits around 2 ms, 15 % slow misses around 180 ms: nothing in between.
    rng = random.Random(11)
    fast = [int(rng.lognormvariate(math.log(2_000), 0.25)) for _ in range(85_000)]
    slow = [int(rng.lognormvariate(math.log(180_000), 0.15)) for _ in range(15_000)]
    values = fast + slow
    rng.shuffle(values)
    ordered = sorted(values)
    percents = (50, 80, 85, 86, 90, 95, 99)
    for percent, estimate in zip(percents, percentiles(values, percents), strict=True):
        assert estimate is not None
        below = bisect_left(ordered, estimate) / len(ordered)
        at_or_below = bisect_right(ordered, estimate) / len(ordered)
        assert below - 0.005 <= percent / 100 <= at_or_below + 0.005, (percent, estimate, below, at_or_below)


def test_below_128_microseconds_the_estimate_lies_within_the_exact_microsecond() -> None:
    values = list(range(1, 101))
    estimates = percentiles(values, (50, 95, 99, 100))
    assert [math.floor(value or 0) for value in estimates] == [50, 95, 99, 100]


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert percentiles([], (50, 99)) == [None, None]


def test_removing_values_forgets_emptied_buckets() -> None:
    histogram = histogram_of([1_000, 1_000, 50_000])
    assert histogram.forget({bucket_of(50_000): 1}) == 1
    assert histogram.span() == Span(bucket_of(1_000), (2,))


def test_spans_add_bucket_wise_across_overlaps_and_gaps() -> None:
    first, overlapping, apart = Span(10, (1, 0, 2)), Span(11, (5,)), Span(20, (7,))
    assert add_spans([first, overlapping, Span(), apart]) == Span(10, (1, 5, 2, 0, 0, 0, 0, 0, 0, 0, 7))
    assert add_spans([Span(), Span()]) == Span()
    assert add_spans([apart]) is apart


# Each step: how many seconds pass, then the bucket of one value recorded, or None for a read of the window.
WINDOW_STEPS = st.lists(st.tuples(st.integers(0, 9), st.one_of(st.none(), st.integers(0, 200))), max_size=60)


@given(WINDOW_STEPS)
def test_a_window_holds_exactly_the_values_of_its_last_seconds_and_its_lifetime_all_however_often_it_is_read(
    steps: list[tuple[int, int | None]],
) -> None:
    timings, seconds = Timings(5), 1_000
    window = timings.window
    recorded: list[tuple[int, int]] = []  # (second, µs)
    for gap, index in steps:
        seconds += gap
        if index is None:
            window.advance(seconds)
            kept = [micros for second, micros in recorded if second > seconds - 5]
            expected = histogram_of(kept).span()
            assert (window.histogram.span(), window.count, window.micros) == (expected, len(kept), sum(kept))
            assert window.dropped == len(recorded) - len(kept)
            everything = histogram_of([micros for _, micros in recorded])
            assert (timings.histogram.span(), timings.histogram.total) == (everything.span(), len(recorded))
        else:
            micros = bucket_bounds(index)[0]  # the lowest value of bucket `index`
            timings.add(micros / 1_000_000, seconds)
            recorded.append((seconds, micros))


# Each step adds values (small and large ones, so that the percentiles jump across groups as well as creep),
# forgets a share of those added so far, or reads within bounds: its numbers say which values, share or bounds.
LIVE_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "forget", "read"]),
        st.lists(st.one_of(st.integers(0, 2**12), st.integers(0, 2**31)), min_size=2, max_size=40),
    ),
    max_size=40,
)


@given(LIVE_STEPS)
def test_percentiles_read_from_the_live_counts_equal_those_of_the_span_after_any_changes(
    steps: list[tuple[str, list[int]]],
) -> None:
    histogram, added = Histogram(), []
    for action, numbers in steps:
        if action == "add":
            added += [bucket_of(value) for value in numbers]
            for index in added[-len(numbers) :]:
                histogram.add(index)
        elif action == "forget":
            share = len(added) * (numbers[0] % 101) // 100
            forgotten, added = added[:share], added[share:]
            times: dict[int, int] = {}
            for index in forgotten:
                times[index] = times.get(index, 0) + 1
            histogram.forget(times)
        else:
            lowest, highest = sorted(numbers[:2])
            assert histogram.percentiles_ms(lowest, highest) == percentiles_ms(histogram.span(), lowest, highest)
        assert histogram.percentiles_ms() == percentiles_ms(histogram.span())


def test_live_percentiles_match_the_exact_ones_of_the_span_on_lognormal_traffic_read_every_second() -> None:
    rng, timings = random.Random(3), Timings(60)
    window = timings.window
    for second in range(300):
        for _ in range(rng.randrange(0, 60)):
            micros = int(rng.lognormvariate(math.log(40_000 if second < 150 else 4_000), 0.7))
            timings.add(micros / 1_000_000, second)
        window.advance(second)
        live = window.histogram.percentiles_ms()
        exact = percentiles_of(window.histogram.span(), (50, 95, 99))
        assert live == [None if value is None else round(value) / 1000 for value in exact]
