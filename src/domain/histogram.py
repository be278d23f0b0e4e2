"""A log-linear latency histogram: fixed bucket layout, constant memory, bucket-wise mergeable."""

from bisect import bisect_left
from collections.abc import Mapping
from itertools import accumulate, compress

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
_INDICES = tuple(range(BUCKETS))  # built once: sparse maps take their keys from here instead of making new ints


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


def percentiles_of(buckets: Mapping[int, int], percents: tuple[int, ...]) -> list[float | None]:
    """Nearest-rank percentiles in microseconds of a sparse {bucket index: count} map, in any key order."""
    order = sorted(buckets)  # a few hundred keys at most in practice: values spread over a few powers of two
    cumulative = list(accumulate(map(buckets.__getitem__, order)))
    total = cumulative[-1] if cumulative else 0
    if not total:
        return [None] * len(percents)
    estimates: list[float | None] = []
    for percent in percents:
        rank = rank_of(percent, total)
        at = bisect_left(cumulative, rank)
        below = cumulative[at - 1] if at else 0
        estimates.append(estimate(order[at], rank, below, cumulative[at] - below))
    return estimates


class Histogram:
    """Counts per bucket, plus counts per group of 64 buckets so that `sparse()` skips the empty groups whole.

    The arrays are allocated once, so the memory does not change with the values counted.
    """

    __slots__ = ("counts", "groups", "total")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.groups = [0] * GROUPS
        self.total = 0

    def sparse(self) -> dict[int, int]:
        """The non-empty buckets only, in ascending order: what a process publishes and what /metrics reads."""
        used = [group for group, total in enumerate(self.groups) if total]
        if not used:
            return {}
        # One C-level pass over the span of non-empty groups: far fewer steps than a Python loop over buckets.
        first, last = used[0] << SUB_BITS, (used[-1] + 1) << SUB_BITS
        chunk = self.counts[first:last]
        return dict(zip(compress(_INDICES[first:last], chunk), filter(None, chunk), strict=False))

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
