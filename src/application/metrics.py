"""Use cases reading the request metrics (this process's or every live process's) and publishing this process's."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from domain.errors import InvalidInput, Unavailable
from domain.event_loop import LAG_BOUNDS
from domain.metrics import (
    EXPOSED_BOUNDS,
    EndpointState,
    EndpointSummary,
    MetricsReport,
    ProcessMetrics,
    split_endpoint,
)
from domain.metrics_report import bucket_entries, by_endpoint, document, merge, summarize
from domain.ports import Clock, MetricsPort, MetricsSharePort

logger = logging.getLogger("perfshop.metrics")

Scope = Literal["local", "cluster"]

_REQUESTS = "perfshop_http_requests_total"
_DURATION = "perfshop_http_request_duration_seconds"
_LAG = "perfshop_event_loop_lag_seconds"
_IN_FLIGHT = "perfshop_http_requests_in_flight"
_SLO_GOOD = "perfshop_slo_good_requests_total"
_SLO_BAD = "perfshop_slo_bad_requests_total"
_WARN_EVERY_S = 60.0
# About a millisecond of merging and percentiles between two returns to the event loop.
SLICE_ENTRIES = 10_000


class ShareFaults:
    """Logs a fault of the metrics share as a WARNING at most once a minute, counting the ones held back."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._next = float("-inf")
        self._held = 0

    def warn(self, doing: str, error: Unavailable) -> None:
        """Note one fault; log it unless another was logged during the last minute."""
        now = self._clock()
        if now < self._next:
            self._held += 1
            return
        held, self._held, self._next = self._held, 0, now + _WARN_EVERY_S
        logger.warning("metrics share: %s failed: %s (%d more faults in the last minute)", doing, error, held)


@dataclass(frozen=True, slots=True)
class Coverage:
    """The processes' states a read covers, the scope it answers for, and why a cluster read fell back.

    A read of this process alone carries its endpoints' `summaries`, read from the live counts; its state then has
    no bucket spans, and is never merged.
    """

    states: list[ProcessMetrics]
    scope: Scope = "local"
    fallback: str | None = None
    summaries: dict[str, EndpointSummary] | None = None


class MetricsStates:
    """Which processes a read covers: this one alone, or this one and every other live process's publication.

    The answering process counts its own requests from memory, never from what it published, and every
    other process from its latest publication, so no request is counted twice.
    """

    def __init__(self, metrics: MetricsPort, share: MetricsSharePort | None, faults: ShareFaults) -> None:
        self._metrics = metrics
        self._share = share
        self._faults = faults

    async def __call__(self, scope: Scope | None) -> Coverage:
        """The states of the scope asked for: `cluster` by default when the metrics are shared."""
        if self._share is None:
            if scope == "cluster":
                raise InvalidInput("scope", "scope=cluster needs PERFSHOP_REDIS_URL: this process shares no metrics")
            return self._own()
        if scope == "local":
            return self._own()
        try:
            published = await self._share.live()
        except Unavailable as error:
            self._faults.warn("reading", error)
            return self._own(f"the metrics share is unavailable ({error}); this process only")
        own = self._metrics.state()
        return Coverage([own, *(state for state in published if state.process != own.process)], "cluster")

    def _own(self, fallback: str | None = None) -> Coverage:
        figures = self._metrics.figures()
        return Coverage([figures.state], fallback=fallback, summaries=figures.endpoints)


class GetMetrics:
    """Per-endpoint lifetime and window figures, the five slowest endpoints and the request rates.

    A read of this process alone takes the summaries it reads from its live counts. A cluster read merges every
    covered process's bucket spans endpoint by endpoint, giving the event loop back after every SLICE_ENTRIES
    bucket counts read, so that a large cluster never stalls the requests being served.
    """

    def __init__(self, states: MetricsStates) -> None:
        self._states = states
        # Each endpoint's last summary and the state it summarizes: a process hands out the same state object
        # again while its endpoint is unchanged, and its summary is then reused, not computed again.
        self._summaries: dict[str, tuple[EndpointState, EndpointSummary]] = {}

    async def __call__(self, scope: Scope | None = None) -> MetricsReport:
        coverage = await self._states(scope)
        if coverage.summaries is not None:
            return document(coverage.states, coverage.summaries, scope=coverage.scope, cluster_error=coverage.fallback)
        endpoints: dict[str, EndpointSummary] = {}
        entries = 0
        for name, group in by_endpoint(coverage.states).items():
            state = merge(group)
            known = self._summaries.get(name)
            if known is not None and known[0] is state:
                endpoints[name] = known[1]
                continue
            endpoints[name] = summarize(state)
            self._summaries[name] = (state, endpoints[name])
            entries += bucket_entries(group)
            if entries >= SLICE_ENTRIES:
                entries -= SLICE_ENTRIES  # the rest counts towards the next slice
                await asyncio.sleep(0)
        return document(coverage.states, endpoints, scope=coverage.scope, cluster_error=coverage.fallback)


class GetPrometheusMetrics:
    """The same figures in the Prometheus text format 0.0.4, one series set per process."""

    def __init__(self, states: MetricsStates) -> None:
        self._states = states

    async def __call__(self, scope: Scope | None = None) -> str:
        return prometheus_text((await self._states(scope)).states)


class PublishMetrics:
    """Publish this process's state for the other processes' readers; a share fault is logged, never raised."""

    def __init__(self, metrics: MetricsPort, share: MetricsSharePort | None, faults: ShareFaults) -> None:
        self._metrics = metrics
        self._share = share
        self._faults = faults

    async def __call__(self) -> None:
        if self._share is None:
            return
        try:
            await self._share.publish(self._metrics.state())
        except Unavailable as error:
            self._faults.warn("publishing", error)


class SampleLoopLag:
    """Sleep a fixed interval again and again, and record each time how much later than asked the loop woke."""

    def __init__(self, metrics: MetricsPort, clock: Clock, interval_s: float) -> None:
        self._metrics = metrics
        self._clock = clock
        self._interval_s = interval_s

    async def __call__(self) -> None:
        """Sample until cancelled: one wake-up per interval, no work per request."""
        while True:
            asked = self._clock() + self._interval_s
            await self._clock.sleep(self._interval_s)
            self._metrics.lag(self._clock() - asked)


def prometheus_text(states: list[ProcessMetrics]) -> str:
    """A request counter and a duration histogram by process, method, route template and status class; the loop
    lag histogram and the requests in the app by process; good and bad requests of each objective by process."""
    counter = [
        f"# HELP {_REQUESTS} Requests answered, by process, method, route template and status class.",
        f"# TYPE {_REQUESTS} counter",
    ]
    histogram = [
        f"# HELP {_DURATION} Time until the last byte of the response, by process, method, route template and "
        "status class.",
        f"# TYPE {_DURATION} histogram",
    ]
    uptime = [
        "# HELP perfshop_uptime_seconds Seconds since the process's metrics started.",
        "# TYPE perfshop_uptime_seconds gauge",
    ]
    lag = [
        f"# HELP {_LAG} How much later than asked the event loop woke a sleeping task, by process.",
        f"# TYPE {_LAG} histogram",
    ]
    in_flight = [
        f"# HELP {_IN_FLIGHT} Requests inside the app now, by process.",
        f"# TYPE {_IN_FLIGHT} gauge",
    ]
    good = [
        f"# HELP {_SLO_GOOD} Requests that met a service level objective, by process and objective.",
        f"# TYPE {_SLO_GOOD} counter",
    ]
    bad = [
        f"# HELP {_SLO_BAD} Requests that spent a service level objective's error budget, by process and objective.",
        f"# TYPE {_SLO_BAD} counter",
    ]
    for state in sorted(states, key=lambda one: one.process):
        process = f'process="{_escape(state.process)}"'
        for endpoint, data in sorted(state.endpoints.items()):
            method, route = split_endpoint(endpoint)
            for series in data.series:
                where = f'method="{_escape(method)}",route="{_escape(route)}"'
                labels = f'{process},{where},status_class="{series.status_class}"'
                counter.append(f"{_REQUESTS}{{{labels}}} {series.count}")
                histogram += _histogram_lines(_DURATION, labels, EXPOSED_BOUNDS, series.buckets, series.sum_s)
        uptime.append(f"perfshop_uptime_seconds{{{process}}} {state.uptime_s!r}")
        loop = state.event_loop
        if loop is not None:
            lag += _histogram_lines(_LAG, process, LAG_BOUNDS, loop.exposed, loop.lag.micros / 1_000_000)
            in_flight.append(f"{_IN_FLIGHT}{{{process}}} {loop.in_flight}")
        for objective in state.slo:
            good.append(f'{_SLO_GOOD}{{{process},objective="{objective.name}"}} {objective.good}')
            bad.append(f'{_SLO_BAD}{{{process},objective="{objective.name}"}} {objective.bad}')
    loops = [*lag, *in_flight] if any(state.event_loop for state in states) else []
    objectives = [*good, *bad] if any(state.slo for state in states) else []
    return "\n".join([*counter, *histogram, *uptime, *loops, *objectives]) + "\n"


def _histogram_lines(
    name: str, labels: str, bounds: tuple[float, ...], counts: tuple[int, ...], total: float
) -> list[str]:
    """One histogram series: cumulative buckets by upper bound, then +Inf, the sum and the count."""
    lines, cumulative = [], 0
    for bound, count in zip((*map(repr, bounds), "+Inf"), counts, strict=True):
        cumulative += count
        lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
    return [*lines, f"{name}_sum{{{labels}}} {total!r}", f"{name}_count{{{labels}}} {cumulative}"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
