"""The counters a cluster's Prometheus scrape adds up over every process that ever served, departed ones included.

Integers only (sums in microseconds), so that they add and subtract exactly: a cluster total that moves from a live
process to the departed sum must not change by a rounding error, which Prometheus would read as a counter reset.
"""

from collections.abc import Iterable

from msgspec import Struct

from domain.metrics import ProcessMetrics


class Buckets(Struct, frozen=True, array_like=True):
    """A histogram as counters: counts per exposed bucket (not cumulative, the overflow last) and the summed µs."""

    counts: tuple[int, ...]
    sum_us: int


class Counters(Struct, frozen=True, array_like=True):
    """Requests by endpoint and status class, the loop lag, and good and bad requests by objective."""

    requests: dict[str, dict[str, Buckets]]
    lag: Buckets | None = None  # None while no process sampled its loop
    slo: dict[str, tuple[int, int]] = {}  # (good, bad) by objective


def counters_of(state: ProcessMetrics) -> Counters:
    """The counters of one process's state."""
    requests = {
        endpoint: {
            series.status_class: Buckets(series.buckets, round(series.sum_s * 1_000_000)) for series in data.series
        }
        for endpoint, data in state.endpoints.items()
    }
    loop = state.event_loop
    lag = Buckets(loop.exposed, loop.lag.micros) if loop is not None else None
    return Counters(requests, lag, {objective.name: (objective.good, objective.bad) for objective in state.slo})


def add_counters(all_counters: Iterable[Counters]) -> Counters:
    """Several processes' counters added up."""
    requests: dict[str, dict[str, Buckets]] = {}
    lag: Buckets | None = None
    slo: dict[str, tuple[int, int]] = {}
    for counters in all_counters:
        for endpoint, classes in counters.requests.items():
            mine = requests.setdefault(endpoint, {})
            for status_class, buckets in classes.items():
                known = mine.get(status_class)
                mine[status_class] = buckets if known is None else _combine(known, buckets, 1)
        if counters.lag is not None:
            lag = counters.lag if lag is None else _combine(lag, counters.lag, 1)
        for name, (good, bad) in counters.slo.items():
            so_far = slo.get(name, (0, 0))
            slo[name] = (so_far[0] + good, so_far[1] + bad)
    return Counters(requests, lag, slo)


def subtract_counters(counters: Counters, baseline: Counters) -> Counters:
    """What `counters` added since `baseline`, an earlier reading of the same process."""
    requests = {
        endpoint: {
            status_class: _combine(buckets, earlier, -1)
            if (earlier := baseline.requests.get(endpoint, {}).get(status_class))
            else buckets
            for status_class, buckets in classes.items()
        }
        for endpoint, classes in counters.requests.items()
    }
    lag = counters.lag
    if lag is not None and baseline.lag is not None:
        lag = _combine(lag, baseline.lag, -1)
    slo = {
        name: (good - baseline.slo.get(name, (0, 0))[0], bad - baseline.slo.get(name, (0, 0))[1])
        for name, (good, bad) in counters.slo.items()
    }
    return Counters(requests, lag, slo)


def _combine(first: Buckets, second: Buckets, sign: int) -> Buckets:
    counts = tuple(mine + sign * theirs for mine, theirs in zip(first.counts, second.counts, strict=True))
    return Buckets(counts, first.sum_us + sign * second.sum_us)
