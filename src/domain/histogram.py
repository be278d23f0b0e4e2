"""A log-linear latency histogram: fixed bucket layout, constant memory, bucket-wise mergeable."""

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from itertools import accumulate, compress, count
from operator import add

from msgspec import Struct

# Values are whole microseconds. Below 128 µs every microsecond has its own bucket; above, each power of two
# is cut into 64 equal buckets, so a bucket is never wider than 1/64 (1.6 %) of the values it holds. Every
# histogram shares this layout, which is what makes merging snapshots (of several processes) a plain
# bucket-wise sum.
SUB_BITS = 6
SUB_BUCKETS = 1 << SUB_BITS
LINEAR_BITS = SUB_BITS + 1
LINEAR_BUCKETS = 1 << LINEAR_BITS  # values below it have a bucket each: the first two groups
MAX_EXPONENT = 24  # the last bucket starts at 2**30 µs (about 18 minutes); longer values are clamped into it
BUCKETS = (MAX_EXPONENT + 2) << SUB_BITS
GROUPS = BUCKETS >> SUB_BITS
PERCENTS = (50, 95, 99)


def bucket_of(micros: int) -> int:
    """The bucket index of a value in whole microseconds (negative values count as 0)."""
    if micros < 0:
        return 0
    exponent = micros.bit_length() - LINEAR_BITS
    if exponent <= 0:
        return micros
    if exponent > MAX_EXPONENT:
        return BUCKETS - 1
    return (exponent << SUB_BITS) + (micros >> exponent)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The lowest value of a bucket and its width, in microseconds."""
    if index < LINEAR_BUCKETS:
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


def percentiles_ms(span: Span, lowest_us: float = 0, highest_us: float = math.inf) -> list[float | None]:
    """The PERCENTS percentiles in ms, rounded to the µs, each kept within [lowest_us, highest_us]: the range of
    the values actually seen, which an interpolated estimate never leaves."""
    return [
        None if value is None else round(min(max(value, lowest_us), highest_us)) / 1000
        for value in percentiles_of(span, PERCENTS)
    ]


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
    """Counts per bucket, plus counts per group of 64 buckets so that `span()` finds its ends and `percentiles_ms()`
    its buckets without a full scan.

    The arrays are allocated once, so the memory does not change with the values counted.
    """

    __slots__ = ("counts", "found", "groups", "total")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.groups = [0] * GROUPS
        self.total = 0
        self.found = [0] * len(PERCENTS)  # the bucket of each percentile at the last read of `percentiles_ms`

    def span(self) -> Span:
        """The counts from the first to the last non-empty bucket: what a process publishes and /metrics reads."""
        groups = self.groups
        # compress() finds the first non-zero entry in C: the ends are found without a Python step per bucket.
        first = next(compress(count(), groups), None)
        if first is None:
            return Span()
        start = first << SUB_BITS
        end = (len(groups) - next(compress(count(), reversed(groups)))) << SUB_BITS
        counts = self.counts
        start += next(compress(count(), counts[start : start + SUB_BUCKETS]))
        end -= next(compress(count(), reversed(counts[end - SUB_BUCKETS : end])))
        return Span(start, tuple(counts[start:end]))

    def percentiles_ms(self, lowest_us: float = 0, highest_us: float = math.inf) -> list[float | None]:
        """What `percentiles_ms(self.span(), lowest_us, highest_us)` gives, read in place from the live counts.

        Each percentile's search starts from the bucket where the last read found it: between two reads a
        percentile moves a few buckets at most, so a read sums two short slices and steps a bucket or two, where
        copying the span and summing all of it costs tens of µs. The group counts bound every walk to 26 groups
        and then 64 buckets, and one walk over the groups serves the three percentiles, which come in rising order.
        """
        total = self.total
        if not total:
            return [None] * len(PERCENTS)
        counts, groups, found = self.counts, self.groups, self.found
        figures: list[float | None] = []
        group = found[0] >> SUB_BITS
        below_group = sum(groups[:group])  # values in the groups before `group`
        for at, percent in enumerate(PERCENTS):
            rank = -(-percent * total // 100)  # rank_of(), written out likewise (total is at least 1)
            while rank > below_group + groups[group]:
                below_group += groups[group]
                group += 1
            while rank <= below_group:
                group -= 1
                below_group -= groups[group]
            # `group` holds the rank-th value; the bucket search starts where the last read found it if in there.
            index = found[at]
            if index >> SUB_BITS == group:
                below = below_group + sum(counts[group << SUB_BITS : index])
            else:
                index, below = group << SUB_BITS, below_group
            while rank > below + counts[index]:
                below += counts[index]
                index += 1
            while rank <= below:
                index -= 1
                below -= counts[index]
            found[at] = index
            # estimate() and the rounding of percentiles_ms() written out: this runs three times per histogram per
            # read, where calls would cost as much as the rest of the search.
            if index < LINEAR_BUCKETS:
                lower, width = index, 1
            else:
                exponent = (index >> SUB_BITS) - 1
                lower, width = (index - (exponent << SUB_BITS)) << exponent, 1 << exponent
            value = lower + width * (rank - below - 0.5) / counts[index]
            value = lowest_us if value < lowest_us else highest_us if value > highest_us else value
            figures.append(round(value) / 1000)
        return figures

    def add(self, index: int) -> None:
        """Count one value in bucket `index`."""
        self.counts[index] += 1
        self.groups[index >> SUB_BITS] += 1
        self.total += 1

    def forget(self, times_by_bucket: dict[int, int]) -> int:
        """Forget values, so many times per bucket index (all of them were added); how many values that was."""
        counts, groups = self.counts, self.groups
        for index, times in times_by_bucket.items():
            counts[index] -= times
            groups[index >> SUB_BITS] -= times
        forgotten = sum(times_by_bucket.values())
        self.total -= forgotten
        return forgotten


class SecondSlot:
    """The values of one second of a sliding window: those counted into its histograms, those not yet."""

    __slots__ = ("buckets", "micros", "pending", "second")

    def __init__(self) -> None:
        self.second = -1
        self.micros = 0
        # counting in a defaultdict is quicker than dict.get() + 1
        self.buckets: defaultdict[int, int] = defaultdict(int)  # counted into the histograms
        self.pending: defaultdict[int, int] = defaultdict(int)  # not yet


class SlidingWindow:
    """The last `seconds` whole seconds (the current one included): one sparse slot per second feeding a histogram,
    and a `lifetime` histogram that counts every value too.

    A value is counted into its second's slot as it comes (into `pending` of the slot `enter(second)` returns,
    `micros` of that slot and of the window: Timings.add does it), and into both histograms, bucket by bucket, when
    its second ends or the window is advanced: a second's values fall into a few buckets, so that costs less than
    two histograms' counts per value. Read the histograms after `advance()`.

    A slot that falls out of the window subtracts its few buckets from the histogram, so reading the window
    costs the same as reading the lifetime histogram, whatever the traffic. `dropped` counts the values that
    left: with the histogram's total it tells whether the window changed since it was last read.
    """

    __slots__ = ("current", "dropped", "expired", "histogram", "lifetime", "micros", "seconds", "slots")

    def __init__(self, seconds: int, lifetime: Histogram | None = None) -> None:
        self.seconds = seconds
        self.slots = [SecondSlot() for _ in range(seconds)]
        self.current = self.slots[0]  # the slot of the latest second a value came in
        self.histogram = Histogram()
        self.lifetime = lifetime or Histogram()
        self.micros = 0
        self.dropped = 0
        self.expired = -seconds  # every slot of a second up to this one has been dropped

    @property
    def count(self) -> int:
        """Values in the window."""
        return self.histogram.total

    def advance(self, second: int) -> None:
        """Forget the slots older than the window ending at `second`.

        Only the slots of the seconds that left the window since the last call are looked at: a read every
        second visits one slot, not the whole window.
        """
        self._count(self.current)
        oldest = second - self.seconds
        if oldest <= self.expired:
            return
        slots, seconds = self.slots, self.seconds
        for past in range(max(self.expired, oldest - seconds) + 1, oldest + 1):
            slot = slots[past % seconds]
            if slot.buckets and slot.second <= oldest:
                self._drop(slot)
        self.expired = oldest

    def enter(self, second: int) -> SecondSlot:
        """Make the slot of `second` (seconds never go backwards) the current one, once the values of the last
        current one are counted, and return it."""
        self._count(self.current)
        slot = self.slots[second % self.seconds]
        if slot.second != second:
            self._drop(slot)
            slot.second = second
        self.current = slot
        return slot

    def _count(self, slot: SecondSlot) -> None:
        """Count a slot's pending values into both histograms and into the slot's counted buckets."""
        pending = slot.pending
        if not pending:
            return
        counts, groups = self.histogram.counts, self.histogram.groups
        all_counts, all_groups = self.lifetime.counts, self.lifetime.groups
        # One loop over the lists themselves rather than Histogram.add per value and histogram: this runs for every
        # bucket a second's values fell in, in every window.
        for index, times in pending.items():
            counts[index] += times
            all_counts[index] += times
            group = index >> SUB_BITS
            groups[group] += times
            all_groups[group] += times
        added = sum(pending.values())
        self.histogram.total += added
        self.lifetime.total += added
        if slot.buckets:  # counted before, during the same second (a read came)
            buckets = slot.buckets
            for index, times in pending.items():
                buckets[index] += times
        else:
            slot.buckets = pending
        slot.pending = defaultdict(int)

    def _drop(self, slot: SecondSlot) -> None:
        self.dropped += self.histogram.forget(slot.buckets)
        self.micros -= slot.micros
        slot.micros = 0
        slot.buckets = defaultdict(int)
