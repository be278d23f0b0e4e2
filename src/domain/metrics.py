"""Request samples and the per-endpoint summary maths: lifetime and sliding-window percentiles, status classes,
the slowest endpoints and request rates, all in constant memory per endpoint."""

from bisect import bisect_left

from msgspec import Struct

from domain.histogram import Histogram, bucket_of

UNMATCHED = "<unmatched>"
PERCENTS = (50, 95, 99)
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


class WindowSummary(Struct, frozen=True):
    """Figures over the sliding window only."""

    count: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rps: float


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


class SlowEndpoint(Struct, frozen=True):
    """An endpoint and its lifetime average."""

    endpoint: str
    avg_ms: float


class StatusSeries(Struct, frozen=True):
    """Requests of one endpoint and status class: count, summed seconds and counts per EXPOSED_BOUNDS bucket."""

    status_class: str
    count: int
    sum_s: float
    buckets: tuple[int, ...]  # one per bound, then the overflow (+Inf) bucket; not cumulative


class EndpointSnapshot(Struct, frozen=True):
    """One endpoint's summary and its exposition series."""

    summary: EndpointSummary
    series: tuple[StatusSeries, ...]


class MetricsSnapshot(Struct, frozen=True):
    """Every endpoint at one instant, with the process uptime and the window length."""

    uptime_s: float
    window_s: int
    endpoints: dict[str, EndpointSnapshot]


class MetricsReport(Struct, frozen=True):
    """The /metrics document: the brief's keys first, then the window rate, uptime and window length."""

    endpoints: dict[str, EndpointSummary]
    top_5_slowest: list[SlowEndpoint]
    rps: float
    rps_window: float
    uptime_s: float
    window_s: int


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """(method, route template) of an endpoint key; UNMATCHED has the method "*"."""
    method, _, route = endpoint.partition(" ")
    return ("*", UNMATCHED) if endpoint == UNMATCHED else (method, route)


def slowest(endpoints: dict[str, EndpointSummary], n: int) -> list[SlowEndpoint]:
    """The `n` endpoints with the highest average time, slowest first."""
    ranked = sorted(endpoints.items(), key=lambda item: item[1].avg_ms, reverse=True)
    return [SlowEndpoint(endpoint=name, avg_ms=summary.avg_ms) for name, summary in ranked[:n]]


def report(snapshot: MetricsSnapshot, top: int = 5) -> MetricsReport:
    """The /metrics document of a snapshot: lifetime rate = requests / uptime, window rate over the window."""
    endpoints = {name: endpoint.summary for name, endpoint in snapshot.endpoints.items()}
    uptime = snapshot.uptime_s
    in_window = sum(summary.window.count for summary in endpoints.values())
    return MetricsReport(
        endpoints=endpoints,
        top_5_slowest=slowest(endpoints, top),
        rps=_rate(sum(summary.count for summary in endpoints.values()), uptime),
        rps_window=_rate(in_window, min(uptime, snapshot.window_s)),
        uptime_s=round(uptime, 3),
        window_s=snapshot.window_s,
    )


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 3) if seconds > 0 else 0.0


def _ms(micros: float | None) -> float | None:
    return None if micros is None else round(micros / 1000, 3)


class _Second:
    __slots__ = ("buckets", "count", "micros", "second")

    def __init__(self) -> None:
        self.second = -1
        self.count = 0
        self.micros = 0
        self.buckets: dict[int, int] = {}


class SlidingWindow:
    """The last `seconds` whole seconds (the current one included): one sparse slot per second feeding a histogram.

    A slot that falls out of the window subtracts its few buckets from the histogram, so reading the window
    costs the same as reading the lifetime histogram, whatever the traffic.
    """

    __slots__ = ("count", "histogram", "micros", "seconds", "slots")

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.slots = [_Second() for _ in range(seconds)]
        self.histogram = Histogram()
        self.count = 0
        self.micros = 0

    def add(self, second: int, index: int, micros: int) -> None:
        """Count one value of bucket `index` in `second` (seconds never go backwards)."""
        slot = self.slots[second % self.seconds]
        if slot.second != second:
            self._drop(slot)
            slot.second = second
        slot.count += 1
        slot.micros += micros
        slot.buckets[index] = slot.buckets.get(index, 0) + 1
        self.histogram.add(index)
        self.count += 1
        self.micros += micros

    def advance(self, second: int) -> None:
        """Forget the slots older than the window ending at `second`."""
        oldest = second - self.seconds
        for slot in self.slots:
            if slot.count and slot.second <= oldest:
                self._drop(slot)

    def _drop(self, slot: _Second) -> None:
        for index, times in slot.buckets.items():
            self.histogram.add(index, -times)
        self.count -= slot.count
        self.micros -= slot.micros
        slot.count = slot.micros = 0
        slot.buckets = {}


class EndpointStats:
    """Everything kept about one endpoint; memory does not grow with the number of requests."""

    __slots__ = ("count", "histogram", "max_us", "micros", "min_us", "series", "ttfb", "window")

    def __init__(self, window_s: int) -> None:
        self.count = 0
        self.micros = 0
        self.min_us = 0
        self.max_us = 0
        self.histogram = Histogram()
        self.window = SlidingWindow(window_s)
        self.ttfb: Histogram | None = None
        self.series: dict[int, _Series] = {}  # by status // 100

    def record(self, sample: RequestSample, second: int) -> None:
        """Add one request that finished during `second`."""
        micros = round(sample.seconds * 1_000_000)
        index = bucket_of(micros)
        if not self.count or micros < self.min_us:
            self.min_us = micros
        if micros > self.max_us:
            self.max_us = micros
        self.count += 1
        self.micros += micros
        self.histogram.add(index)
        self.window.add(second, index, micros)
        series = self.series.get(sample.status // 100) or self.series.setdefault(sample.status // 100, _Series())
        series.count += 1
        series.seconds += sample.seconds
        series.buckets[bisect_left(EXPOSED_BOUNDS, sample.seconds)] += 1
        if sample.ttfb is not None:
            ttfb = self.ttfb or Histogram()
            ttfb.add(bucket_of(round(sample.ttfb * 1_000_000)))
            self.ttfb = ttfb

    def snapshot(self, second: int, window_span: float) -> EndpointSnapshot:
        """Summary and series as of `second`; the window rate is over `window_span` seconds."""
        window = self.window
        window.advance(second)
        p50, p95, p99 = (self._clamp(value) for value in self.histogram.percentiles(PERCENTS))
        w50, w95, w99 = (_ms(self._clamp(value)) for value in window.histogram.percentiles(PERCENTS))
        t50, t95, t99 = (_ms(v) for v in self.ttfb.percentiles(PERCENTS)) if self.ttfb else (None, None, None)
        status = dict.fromkeys(STATUS_CLASSES, 0)
        status.update((f"{hundreds}xx", series.count) for hundreds, series in self.series.items())
        summary = EndpointSummary(
            count=self.count,
            avg_ms=round(self.micros / self.count / 1000, 3),
            min_ms=self.min_us / 1000,
            max_ms=self.max_us / 1000,
            p50_ms=_ms(p50) or 0.0,
            p95_ms=_ms(p95) or 0.0,
            p99_ms=_ms(p99) or 0.0,
            status=status,
            window=WindowSummary(
                count=window.count,
                avg_ms=_ms(window.micros / window.count) if window.count else None,
                p50_ms=w50,
                p95_ms=w95,
                p99_ms=w99,
                rps=_rate(window.count, window_span),
            ),
            ttfb_p50_ms=t50,
            ttfb_p95_ms=t95,
            ttfb_p99_ms=t99,
        )
        series = tuple(
            StatusSeries(status_class=f"{hundreds}xx", count=one.count, sum_s=one.seconds, buckets=tuple(one.buckets))
            for hundreds, one in sorted(self.series.items())
        )
        return EndpointSnapshot(summary=summary, series=series)

    def _clamp(self, micros: float | None) -> float | None:
        # An interpolated estimate never leaves the range of the values actually seen.
        return None if micros is None else min(max(micros, self.min_us), self.max_us)


class _Series:
    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(EXPOSED_BOUNDS) + 1)
