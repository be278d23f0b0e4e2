"""Use cases reading the request metrics: the JSON report and the Prometheus exposition."""

from domain.metrics import EXPOSED_BOUNDS, MetricsReport, MetricsSnapshot, report, split_endpoint
from domain.ports import MetricsPort

_REQUESTS = "perfshop_http_requests_total"
_DURATION = "perfshop_http_request_duration_seconds"


class GetMetrics:
    """Per-endpoint lifetime and window figures, the five slowest endpoints and the request rates."""

    def __init__(self, metrics: MetricsPort) -> None:
        self._metrics = metrics

    async def __call__(self) -> MetricsReport:
        return report(self._metrics.snapshot())


class GetPrometheusMetrics:
    """The same figures in the Prometheus text exposition format 0.0.4."""

    def __init__(self, metrics: MetricsPort) -> None:
        self._metrics = metrics

    async def __call__(self) -> str:
        return prometheus_text(self._metrics.snapshot())


def prometheus_text(snapshot: MetricsSnapshot) -> str:
    """A request counter and a duration histogram labelled by method, route template and status class."""
    counter = [
        f"# HELP {_REQUESTS} Requests answered, by method, route template and status class.",
        f"# TYPE {_REQUESTS} counter",
    ]
    histogram = [
        f"# HELP {_DURATION} Time until the last byte of the response, by method, route template and status class.",
        f"# TYPE {_DURATION} histogram",
    ]
    for endpoint, data in sorted(snapshot.endpoints.items()):
        method, route = split_endpoint(endpoint)
        for series in data.series:
            labels = f'method="{_escape(method)}",route="{_escape(route)}",status_class="{series.status_class}"'
            counter.append(f"{_REQUESTS}{{{labels}}} {series.count}")
            cumulative = 0
            for bound, count in zip((*map(repr, EXPOSED_BOUNDS), "+Inf"), series.buckets, strict=True):
                cumulative += count
                histogram.append(f'{_DURATION}_bucket{{{labels},le="{bound}"}} {cumulative}')
            histogram.append(f"{_DURATION}_sum{{{labels}}} {series.sum_s!r}")
            histogram.append(f"{_DURATION}_count{{{labels}}} {series.count}")
    uptime = [
        "# HELP perfshop_uptime_seconds Seconds since the metrics started.",
        "# TYPE perfshop_uptime_seconds gauge",
        f"perfshop_uptime_seconds {snapshot.uptime_s!r}",
    ]
    return "\n".join([*counter, *histogram, *uptime]) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
