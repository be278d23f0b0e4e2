"""The request metrics in the Prometheus text format 0.0.4: each process's series, or the cluster's totals."""

from dataclasses import dataclass
from typing import Literal

from application.metrics import MetricsStates, ShareFaults
from domain.counters import Buckets, Counters, counters_of
from domain.errors import Unavailable
from domain.event_loop import LAG_BOUNDS
from domain.metrics import EXPOSED_BOUNDS, ProcessMetrics, split_endpoint
from domain.ports import MetricsSharePort

PrometheusScope = Literal["local", "cluster", "process"]

_REQUESTS = "perfshop_http_requests_total"
_DURATION = "perfshop_http_request_duration_seconds"
_UPTIME = "perfshop_uptime_seconds"
_LAG = "perfshop_event_loop_lag_seconds"
_IN_FLIGHT = "perfshop_http_requests_in_flight"
_SLO_GOOD = "perfshop_slo_good_requests_total"
_SLO_BAD = "perfshop_slo_bad_requests_total"

_PER_PROCESS_HELP = {
    _REQUESTS: "Requests answered, by process, method, route template and status class.",
    _DURATION: "Time until the last byte of the response, by process, method, route template and status class.",
    _UPTIME: "Seconds since the process's metrics started.",
    _LAG: "How much later than asked the event loop woke a sleeping task, by process.",
    _IN_FLIGHT: "Requests inside the app now, by process.",
    _SLO_GOOD: "Requests that met a service level objective, by process and objective.",
    _SLO_BAD: "Requests that spent a service level objective's error budget, by process and objective.",
}
_CLUSTER_HELP = {
    _REQUESTS: "Requests answered by every process, departed ones included, by method, route template and status "
    "class.",
    _DURATION: "Time until the last byte of the response over every process, departed ones included, by method, "
    "route template and status class.",
    _UPTIME: "Seconds since the oldest live process's metrics started.",
    _LAG: "How much later than asked the event loops woke a sleeping task, over every process, departed ones included.",
    _IN_FLIGHT: "Requests inside the live processes now.",
    _SLO_GOOD: "Requests that met a service level objective over every process, departed ones included, by objective.",
    _SLO_BAD: "Requests that spent a service level objective's error budget over every process, departed ones "
    "included, by objective.",
}


@dataclass(frozen=True, slots=True)
class _Source:
    """One labelled set of series: a process's (labelled with its name), or the cluster's (no label)."""

    labels: str
    counters: Counters
    uptime_s: float
    in_flight: int | None  # None while no loop is sampled


class GetPrometheusMetrics:
    """The scrape: the cluster's totals by default when the metrics are shared, else this process's series.

    `cluster`: counters summed over every process that ever published, departed ones included, so that they never
    decrease when a process stops or restarts, with no process label (a scrape through a load balancer reaches any
    one worker); gauges over the live processes. `process`: every live process's own series, labelled `process`.
    `local`: the answering process's own series.
    """

    def __init__(self, states: MetricsStates, share: MetricsSharePort | None, faults: ShareFaults) -> None:
        self._states = states
        self._share = share
        self._faults = faults

    async def __call__(self, scope: PrometheusScope | None = None) -> str:
        if scope == "process":
            return prometheus_text((await self._states("cluster" if self._share else "local")).states)
        if self._share is None or scope == "local":
            return prometheus_text((await self._states(scope)).states)
        try:
            totals = await self._share.totals()
        except Unavailable as error:
            self._faults.warn("reading", error)
            raise Unavailable(
                f"the metrics share is unavailable ({error}): no cluster totals; ?scope=local answers for this process"
            ) from error
        return cluster_text(totals, (await self._states("cluster")).states)


def prometheus_text(states: list[ProcessMetrics]) -> str:
    """Each process's series, labelled `process`: a request counter and a duration histogram by method, route
    template and status class, the uptime, the loop lag histogram and the requests in the app, good and bad
    requests of each objective."""
    sources = [
        _Source(
            f'process="{_escape(state.process)}"',
            counters_of(state),
            state.uptime_s,
            state.event_loop.in_flight if state.event_loop else None,
        )
        for state in sorted(states, key=lambda one: one.process)
    ]
    return _exposition(sources, _PER_PROCESS_HELP)


def cluster_text(totals: Counters, live: list[ProcessMetrics]) -> str:
    """The cluster's totals without a process label; the oldest live uptime and the live requests in the apps."""
    loops = [state.event_loop.in_flight for state in live if state.event_loop]
    in_flight = sum(loops) if loops or totals.lag else None
    source = _Source("", totals, max((state.uptime_s for state in live), default=0.0), in_flight)
    return _exposition([source], _CLUSTER_HELP)


def _exposition(sources: list[_Source], helps: dict[str, str]) -> str:
    kinds = {_REQUESTS: "counter", _DURATION: "histogram", _UPTIME: "gauge", _LAG: "histogram", _IN_FLIGHT: "gauge"}
    kinds |= {_SLO_GOOD: "counter", _SLO_BAD: "counter"}
    lines: dict[str, list[str]] = {name: [] for name in kinds}
    for source in sources:
        labels = source.labels
        for endpoint, classes in sorted(source.counters.requests.items()):
            method, route = split_endpoint(endpoint)
            where = f'method="{_escape(method)}",route="{_escape(route)}"'
            for status_class, buckets in sorted(classes.items()):
                series = _join(labels, f'{where},status_class="{status_class}"')
                lines[_REQUESTS].append(f"{_REQUESTS}{{{series}}} {sum(buckets.counts)}")
                lines[_DURATION] += _histogram_lines(_DURATION, series, EXPOSED_BOUNDS, buckets)
        lines[_UPTIME].append(f"{_UPTIME}{_braces(labels)} {source.uptime_s!r}")
        if source.counters.lag is not None:
            lines[_LAG] += _histogram_lines(_LAG, labels, LAG_BOUNDS, source.counters.lag)
        if source.in_flight is not None:
            lines[_IN_FLIGHT].append(f"{_IN_FLIGHT}{_braces(labels)} {source.in_flight}")
        for objective, (good, bad) in sorted(source.counters.slo.items()):
            series = _join(labels, f'objective="{_escape(objective)}"')
            lines[_SLO_GOOD].append(f"{_SLO_GOOD}{{{series}}} {good}")
            lines[_SLO_BAD].append(f"{_SLO_BAD}{{{series}}} {bad}")
    text = []
    for name, kind in kinds.items():
        if lines[name] or name in (_REQUESTS, _DURATION, _UPTIME):
            text += [f"# HELP {name} {helps[name]}", f"# TYPE {name} {kind}", *lines[name]]
    return "\n".join(text) + "\n"


def _histogram_lines(name: str, labels: str, bounds: tuple[float, ...], buckets: Buckets) -> list[str]:
    """One histogram series: cumulative buckets by upper bound, then +Inf, the sum and the count."""
    lines, cumulative = [], 0
    for bound, count in zip((*map(repr, bounds), "+Inf"), buckets.counts, strict=True):
        cumulative += count
        le = f'le="{bound}"'
        lines.append(f"{name}_bucket{{{_join(labels, le)}}} {cumulative}")
    total = buckets.sum_us / 1_000_000
    return [*lines, f"{name}_sum{_braces(labels)} {total!r}", f"{name}_count{_braces(labels)} {cumulative}"]


def _join(*labels: str) -> str:
    return ",".join(label for label in labels if label)


def _braces(labels: str) -> str:
    return f"{{{labels}}}" if labels else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
