"""Request samples, their per-endpoint recording in constant memory (lifetime and sliding-window histograms,
status classes), and the mergeable state and report documents built from it."""

from bisect import bisect_left

from msgspec import Struct

from domain.event_loop import EventLoopState, EventLoopSummary
from domain.histogram import Histogram, Span, bucket_of
from domain.queueing import CountsWindow, Timings, TimingState, apdex_zone
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


class EndpointStats:
    """Everything kept about one endpoint; memory does not grow with the number of requests."""

    __slots__ = (
        "apdex",
        "apdex_t",
        "e2e",
        "queue",
        "series",
        "service",
        "taken",
        "taken_as_of",
        "ttfb",
        "window_apdex",
    )

    def __init__(self, window_s: int, apdex_t_s: float = 0.1) -> None:
        self.apdex_t = apdex_t_s
        self.apdex = [0, 0, 0]
        self.window_apdex = CountsWindow(window_s, 3)
        self.service = Timings(window_s)  # until the last byte
        self.queue: Timings | None = None
        self.e2e: Timings | None = None
        self.ttfb: Histogram | None = None
        self.series: dict[int, _Series] = {}  # by status // 100
        # The last state taken, and what it was taken from: a read that finds nothing changed reuses it.
        self.taken: EndpointState | None = None
        self.taken_as_of: tuple[object, ...] = ()

    def record(self, sample: RequestSample, second: int, felt: float) -> None:
        """Add one request that finished during `second`; `felt` is `sample.felt()`."""
        seconds = sample.seconds
        self.service.add(seconds, second)
        hundreds = sample.status // 100
        series = self.series.get(hundreds) or self.series.setdefault(hundreds, _Series())
        series.count += 1
        series.seconds += seconds
        series.buckets[bisect_left(EXPOSED_BOUNDS, seconds)] += 1
        if sample.ttfb is not None:
            ttfb = self.ttfb or Histogram()
            ttfb.add(bucket_of(round(sample.ttfb * 1_000_000)))
            self.ttfb = ttfb
        queue = sample.queue
        if queue is not None:
            if self.queue is None or self.e2e is None:
                self.queue, self.e2e = Timings(self.service.window.seconds), Timings(self.service.window.seconds)
            self.queue.add(queue, second)
            self.e2e.add(queue + seconds, second)  # its own end-to-end time: never a sum of percentiles
        zone = apdex_zone(felt, sample.status, self.apdex_t)
        self.apdex[zone] += 1
        self.window_apdex.add(second, zone)

    def state(self, second: int, window_span: float) -> EndpointState:
        """The mergeable figures as of `second`; the window rate is over `window_span` seconds.

        Unchanged since the last state (no request recorded, nothing left a window, the same span), it is that
        state again: an idle endpoint costs a read almost nothing.
        """
        timings = [timing for timing in (self.service, self.queue, self.e2e) if timing is not None]
        for timing in timings:
            timing.window.advance(second)
        window_apdex = self.window_apdex.counts(second)
        as_of = (self.service.histogram.total, window_span, window_apdex, *(one.window.dropped for one in timings))
        if self.taken is None or as_of != self.taken_as_of:
            self.taken, self.taken_as_of = self._take(second, window_span, window_apdex), as_of
        return self.taken

    def _take(self, second: int, window_span: float, window_apdex: tuple[int, ...]) -> EndpointState:
        service = self.service
        window = service.window
        series = tuple(
            StatusSeries(status_class=f"{hundreds}xx", count=one.count, sum_s=one.seconds, buckets=tuple(one.buckets))
            for hundreds, one in sorted(self.series.items())
        )
        count = service.histogram.total
        return EndpointState(
            count=count,
            micros=service.micros,
            min_us=service.min_us if count else 0,
            max_us=service.max_us,
            buckets=service.histogram.span(),
            window_count=window.count,
            window_micros=window.micros,
            window_buckets=window.histogram.span(),
            window_rps=window.count / window_span if window_span > 0 else 0.0,
            series=series,
            ttfb=self.ttfb.span() if self.ttfb else None,
            apdex=tuple(self.apdex),
            window_apdex=window_apdex,
            queue=self.queue.state(second) if self.queue else None,
            e2e=self.e2e.state(second) if self.e2e else None,
        )


class _Series:
    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(EXPOSED_BOUNDS) + 1)
