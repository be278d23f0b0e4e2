"""A log-linear latency histogram: fixed bucket layout, constant memory, bucket-wise mergeable."""

from bisect import bisect_left
from itertools import accumulate

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


class Histogram:
    """Counts per bucket, plus counts per group of 64 buckets so that a percentile reads ~100 numbers, not 1,664."""

    __slots__ = ("counts", "groups", "total")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.groups = [0] * GROUPS
        self.total = 0

    def add(self, index: int, times: int = 1) -> None:
        """Count `times` values (negative: remove them) in bucket `index`."""
        self.counts[index] += times
        self.groups[index >> SUB_BITS] += times
        self.total += times

    def merge(self, other: "Histogram") -> None:
        """Add every count of `other` (same layout by construction) to this histogram."""
        self.counts = [mine + theirs for mine, theirs in zip(self.counts, other.counts, strict=True)]
        self.groups = [mine + theirs for mine, theirs in zip(self.groups, other.groups, strict=True)]
        self.total += other.total

    def percentiles(self, percents: tuple[int, ...]) -> list[float | None]:
        """Nearest-rank percentiles in microseconds (None when empty), interpolated linearly inside the bucket."""
        total = self.total
        if not total:
            return [None] * len(percents)
        group_totals = list(accumulate(self.groups))
        estimates: list[float | None] = []
        for percent in percents:
            rank = max(1, -(-percent * total // 100))  # ceil without float error: p95 of 100 values is the 95th
            group = bisect_left(group_totals, rank)
            first = group << SUB_BITS
            below = group_totals[group - 1] if group else 0
            within = list(accumulate(self.counts[first : first + SUB_BUCKETS]))
            offset = bisect_left(within, rank - below)
            below += within[offset - 1] if offset else 0
            lower, width = bucket_bounds(first + offset)
            # Spreading a bucket's values evenly over its width keeps the estimate's rank close to the target
            # even where one bucket holds a few percent of all values.
            estimates.append(lower + width * (rank - below - 0.5) / self.counts[first + offset])
        return estimates
