"""Request samples, and the mergeable state and report documents built from their per-endpoint recording."""

from typing import NamedTuple

from msgspec import Struct

from domain.event_loop import EventLoopState, EventLoopSummary
from domain.histogram import Span
from domain.queueing import TimingState
from domain.slo import SloState, SloSummary

UNMATCHED = "<unmatched>"
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
# Upper bounds (seconds) of the exposed duration buckets: endpoints of about 100, 200 and 500 ms fall into
# different buckets even when they run 15 % slow or fast, and 0.3 s is the default slow-request threshold.
EXPOSED_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.15, 0.3, 0.45, 0.75, 1.0, 2.5, 5.0, 10.0)


class RequestSample(Struct, frozen=True, gc=False):
    """One finished request: `endpoint` is "METHOD /route/{template}" or UNMATCHED; times in seconds."""

    endpoint: str
    status: int
    seconds: float  # until the last byte of the response was handed to the server
    ttfb: float | None = None  # until the first body byte, for streamed responses only
    queue: float | None = None  # from the proxy's receipt to the app, when the proxy said when (X-Request-Start)

    def felt(self) -> float:
        """What the user waited for: a stream's first byte or the whole response, plus the queue when known."""
        answered = self.seconds if self.ttfb is None else self.ttfb
        return answered if self.queue is None else answered + self.queue


class WindowSummary(Struct, frozen=True, omit_defaults=True):
    """Figures over the sliding window only."""

    count: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rps: float
    apdex: float | None = None
    queue_p50_ms: float | None = None
    queue_p95_ms: float | None = None
    queue_p99_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p95_ms: float | None = None
    e2e_p99_ms: float | None = None


class EndpointSummary(Struct, frozen=True, omit_defaults=True):
    """Lifetime figures of one endpoint (total time to the last byte), its status classes and its window."""

    count: int
    avg_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    status: dict[str, int]
    window: WindowSummary
    ttfb_p50_ms: float | None = None
    ttfb_p95_ms: float | None = None
    ttfb_p99_ms: float | None = None
    apdex: float | None = None
    queue_avg_ms: float | None = None
    queue_max_ms: float | None = None
    queue_p50_ms: float | None = None
    queue_p95_ms: float | None = None
    queue_p99_ms: float | None = None
    e2e_avg_ms: float | None = None
    e2e_max_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p95_ms: float | None = None
    e2e_p99_ms: float | None = None


class SlowEndpoint(Struct, frozen=True):
    """An endpoint and its lifetime average."""

    endpoint: str
    avg_ms: float


class StatusSeries(Struct, frozen=True, array_like=True):
    """Requests of one endpoint and status class: count, summed seconds and counts per EXPOSED_BOUNDS bucket."""

    status_class: str
    count: int
    sum_s: float
    buckets: tuple[int, ...]  # one per bound, then the overflow (+Inf) bucket; not cumulative


class EndpointState(Struct, frozen=True, array_like=True, omit_defaults=True):
    """One endpoint's mergeable figures: sums, extremes and the spans of its histograms' buckets, no samples.

    The window part is as of the moment the state was taken; `window_rps` is its count over the process's own
    window span, so the rates of several processes add up even when they started at different times.
    """

    count: int
    micros: int
    min_us: int
    max_us: int
    buckets: Span
    window_count: int
    window_micros: int
    window_buckets: Span
    window_rps: float
    series: tuple[StatusSeries, ...]
    ttfb: Span | None = None
    apdex: tuple[int, ...] = (0, 0, 0)  # satisfied, tolerating, frustrated
    window_apdex: tuple[int, ...] = (0, 0, 0)
    queue: TimingState | None = None
    e2e: TimingState | None = None


class ProcessMetrics(Struct, frozen=True, array_like=True):
    """Everything one process has recorded, as of one instant: what it publishes for the others to merge."""

    process: str
    uptime_s: float
    window_s: int
    endpoints: dict[str, EndpointState]
    event_loop: EventLoopState | None = None  # None while profiling is off, and from a process that predates it
    request_starts_rejected: dict[str, int] = {}  # X-Request-Start values not recorded, by reason
    slo: tuple[SloState, ...] = ()  # one per objective set


class MetricsReport(Struct, frozen=True):
    """The /metrics document: the brief's keys first, then rates, uptime, window and which processes it covers.

    Over several processes `rps` and `rps_window` are the sums of each process's own rates, `uptime_s` is the
    oldest live process's uptime, and `processes` counts the live processes merged. `cluster_error` says why a
    cluster read fell back to this process alone. `event_loop` is the loops' lag and the requests inside the apps
    (summed over processes); `request_starts_rejected` counts the `X-Request-Start` values not recorded, by reason;
    `slo` is each objective set with its burn rates (None while none is).
    """

    endpoints: dict[str, EndpointSummary]
    top_5_slowest: list[SlowEndpoint]
    rps: float
    rps_window: float
    uptime_s: float
    window_s: int
    scope: str = "local"
    processes: int = 1
    cluster_error: str | None = None
    event_loop: EventLoopSummary | None = None
    request_starts_rejected: dict[str, int] = {}
    slo: dict[str, SloSummary] | None = None


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """(method, route template) of an endpoint key; UNMATCHED has the method "*"."""
    method, _, route = endpoint.partition(" ")
    return ("*", UNMATCHED) if endpoint == UNMATCHED else (method, route)


class LocalFigures(NamedTuple):
    """A read of this process alone: its state with no endpoints (what the document's loop and objectives read;
    never merged nor published), each endpoint's summary read from the live counts, and the requests per second
    over the uptime and over the window."""

    state: ProcessMetrics
    endpoints: dict[str, EndpointSummary]
    rates: tuple[float, float]
