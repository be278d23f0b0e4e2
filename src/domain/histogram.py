"""A log-linear latency histogram: fixed bucket layout, constant memory, bucket-wise mergeable."""

from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate
from operator import add

from msgspec import Struct

# Values are whole microseconds. Below 128 µs every microsecond has its own bucket; above, each power of two
# is cut into 64 equal buckets, so a bucket is never wider than 1/64 (1.6 %) of the values it holds. Every
# histogram shares this layout, which is what makes merging snapshots (of several processes) a plain
# bucket-wise sum.
SUB_BITS = 6
SUB_BUCKETS = 1 << SUB_BITS
_LINEAR_BITS = SUB_BITS + 1
MAX_EXPONENT = 24  # the last bucket starts at 2**30 µs (about 18 minutes); longer values are clamped into it
BUCKETS = (MAX_EXPONENT + 2) << SUB_BITS
GROUPS = BUCKETS >> SUB_BITS
PERCENTS = (50, 95, 99)


def bucket_of(micros: int) -> int:
    """The bucket index of a value in whole microseconds (negative values count as 0)."""
    if micros < 0:
        return 0
    exponent = micros.bit_length() - _LINEAR_BITS
    if exponent <= 0:
        return micros
    if exponent > MAX_EXPONENT:
        return BUCKETS - 1
    return (exponent << SUB_BITS) + (micros >> exponent)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The lowest value of a bucket and its width, in microseconds."""
    if index < 2 * SUB_BUCKETS:
        return index, 1
    exponent = (index >> SUB_BITS) - 1
    return (index - (exponent << SUB_BITS)) << exponent, 1 << exponent


def rank_of(percent: int, total: int) -> int:
    """The nearest rank of a percentile among `total` values (1-based, at least 1)."""
    return max(1, -(-percent * total // 100))  # ceil without float error: p95 of 100 values is the 95th


def estimate(index: int, rank: int, below: int, count: int) -> float:
    """The value of the `rank`-th value overall, which is in bucket `index` holding `count` values above `below`."""
    lower, width = bucket_bounds(index)
    # Spreading a bucket's values evenly over its width keeps the estimate's rank close to the target even
    # where one bucket holds a few percent of all values.
    return lower + width * (rank - below - 0.5) / count


class Span(Struct, frozen=True, array_like=True):
    """The counts of consecutive buckets from bucket `first` on, with no empty bucket at either end.

    What a state carries: a process's values sit within a few powers of two, so the span is short, and taking,
    adding and reading one are C-level slices and sums rather than a Python step per bucket.
    """

    first: int = 0
    counts: tuple[int, ...] = ()


def percentiles_of(span: Span, percents: tuple[int, ...]) -> list[float | None]:
    """Nearest-rank percentiles in microseconds (None when empty), interpolated linearly inside the bucket."""
    cumulative = list(accumulate(span.counts))
    total = cumulative[-1] if cumulative else 0
    if not total:
        return [None] * len(percents)
    estimates: list[float | None] = []
    for percent in percents:
        rank = rank_of(percent, total)
        at = bisect_left(cumulative, rank)
        below = cumulative[at - 1] if at else 0
        estimates.append(estimate(span.first + at, rank, below, cumulative[at] - below))
    return estimates


def add_spans(spans: Iterable[Span]) -> Span:
    """The bucket-wise sum of several spans."""
    present = [span for span in spans if span.counts]
    if len(present) <= 1:
        return present[0] if present else Span()
    first = min(span.first for span in present)
    total = [0] * (max(span.first + len(span.counts) for span in present) - first)
    for span in present:
        at, end = span.first - first, span.first - first + len(span.counts)
        total[at:end] = map(add, total[at:end], span.counts)
    return Span(first, tuple(total))


class Histogram:
    """Counts per bucket, plus counts per group of 64 buckets so that `span()` finds its ends without a full scan.

    The arrays are allocated once, so the memory does not change with the values counted.
    """

    __slots__ = ("counts", "groups", "total")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.groups = [0] * GROUPS
        self.total = 0

    def span(self) -> Span:
        """The counts from the first to the last non-empty bucket: what a process publishes and /metrics reads."""
        used = [group for group, total in enumerate(self.groups) if total]
        if not used:
            return Span()
        counts = self.counts[used[0] << SUB_BITS : (used[-1] + 1) << SUB_BITS]
        lead = next(at for at, count in enumerate(counts) if count)
        trail = next(at for at, count in enumerate(reversed(counts)) if count)
        return Span((used[0] << SUB_BITS) + lead, tuple(counts[lead : len(counts) - trail]))

    def add(self, index: int) -> None:
        """Count one value in bucket `index`."""
        self.counts[index] += 1
        self.groups[index >> SUB_BITS] += 1
        self.total += 1

    def remove(self, index: int, times: int) -> None:
        """Forget `times` values of bucket `index` (all of them were added)."""
        self.counts[index] -= times
        self.groups[index >> SUB_BITS] -= times
        self.total -= times


class _Second:
    __slots__ = ("buckets", "micros", "second")

    def __init__(self) -> None:
        self.second = -1
        self.micros = 0
        self.buckets: dict[int, int] = {}


class SlidingWindow:
    """The last `seconds` whole seconds (the current one included): one sparse slot per second feeding a histogram.

    A slot that falls out of the window subtracts its few buckets from the histogram, so reading the window
    costs the same as reading the lifetime histogram, whatever the traffic.
    """

    __slots__ = ("histogram", "micros", "seconds", "slots")

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.slots = [_Second() for _ in range(seconds)]
        self.histogram = Histogram()
        self.micros = 0

    @property
    def count(self) -> int:
        """Values in the window."""
        return self.histogram.total

    def add(self, second: int, index: int, micros: int) -> None:
        """Count one value of bucket `index` in `second` (seconds never go backwards)."""
        slot = self.slots[second % self.seconds]
        if slot.second != second:
            self._drop(slot)
            slot.second = second
        buckets = slot.buckets
        buckets[index] = buckets.get(index, 0) + 1
        slot.micros += micros
        self.histogram.add(index)
        self.micros += micros

    def advance(self, second: int) -> None:
        """Forget the slots older than the window ending at `second`."""
        oldest = second - self.seconds
        for slot in self.slots:
            if slot.buckets and slot.second <= oldest:
                self._drop(slot)

    def _drop(self, slot: _Second) -> None:
        remove = self.histogram.remove
        for index, times in slot.buckets.items():
            remove(index, times)
        self.micros -= slot.micros
        slot.micros = 0
        slot.buckets = {}
