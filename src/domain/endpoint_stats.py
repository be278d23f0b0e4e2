"""Recording requests per endpoint in constant memory (lifetime and sliding-window histograms, status classes,
Apdex), and reading them: as a mergeable state, or as a summary straight from the live counts."""

from bisect import bisect_left

from domain.histogram import Histogram, bucket_of
from domain.metrics import EXPOSED_BOUNDS, EndpointState, EndpointSummary, RequestSample, StatusSeries
from domain.metrics_report import endpoint_summary
from domain.queueing import FRUSTRATED, NO_FIGURES, SATISFIED, TOLERATING, CountsWindow, Timings


class EndpointStats:
    """Everything kept about one endpoint; memory does not grow with the number of requests."""

    __slots__ = (
        "apdex",
        "apdex_t",
        "e2e",
        "queue",
        "series",
        "service",
        "summarized",
        "summarized_as_of",
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
        # The last state taken and the last summary, and what each was taken from: a read that finds nothing
        # changed reuses them.
        self.taken: EndpointState | None = None
        self.taken_as_of: tuple[object, ...] = ()
        self.summarized: EndpointSummary | None = None
        self.summarized_as_of: tuple[object, ...] = ()

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
        # SATISFIED within the threshold T, TOLERATING within 4T, FRUSTRATED beyond it or on any 5xx
        threshold = self.apdex_t
        zone = (
            FRUSTRATED
            if sample.status >= 500 or felt > 4 * threshold
            else SATISFIED
            if felt <= threshold
            else TOLERATING
        )
        self.apdex[zone] += 1
        self.window_apdex.add(second, zone)

    def state(self, second: int, window_span: float) -> EndpointState:
        """The mergeable figures as of `second`; the window rate is over `window_span` seconds.

        Unchanged since the last state (no request recorded, nothing left a window, the same span), it is that
        state again: an idle endpoint costs a read almost nothing.
        """
        as_of, window_apdex = self._as_of(second, window_span)
        if self.taken is None or as_of != self.taken_as_of:
            self.taken, self.taken_as_of = self._take(second, window_span, window_apdex), as_of
        return self.taken

    def summary(self, second: int, window_span: float) -> EndpointSummary:
        """For a read of this process alone: the summary as of `second`, its percentiles read from the live counts
        (no bucket span is copied). Unchanged since the last call, it is the same summary again, as with `state`."""
        as_of, window_apdex = self._as_of(second, window_span)
        if self.summarized is None or as_of != self.summarized_as_of:
            self.summarized, self.summarized_as_of = self._summarize(window_span, window_apdex), as_of
        return self.summarized

    def _as_of(self, second: int, window_span: float) -> tuple[tuple[object, ...], tuple[int, ...]]:
        """The windows advanced to `second`; what tells whether the figures changed, and the window's Apdex."""
        timings = [timing for timing in (self.service, self.queue, self.e2e) if timing is not None]
        for timing in timings:
            timing.window.advance(second)
        window_apdex = self.window_apdex.counts(second)
        as_of = (self.service.histogram.total, window_span, window_apdex, *(one.window.dropped for one in timings))
        return as_of, window_apdex

    def _summarize(self, window_span: float, window_apdex: tuple[int, ...]) -> EndpointSummary:
        service = self.service
        lifetime, window = service.histogram, service.window
        count, low, high = lifetime.total, service.min_us, service.max_us
        return endpoint_summary(
            (count, service.micros, low if count else 0, high),
            (
                lifetime.percentiles_ms(low, high),
                window.histogram.percentiles_ms(low, high),
                self.ttfb.percentiles_ms() if self.ttfb else None,
            ),
            {f"{hundreds}xx": one.count for hundreds, one in sorted(self.series.items())},
            (window.count, window.micros, window.count / window_span if window_span > 0 else 0.0),
            (self.apdex, window_apdex),
            self.queue.figures() if self.queue else NO_FIGURES,
            self.e2e.figures() if self.e2e else NO_FIGURES,
        )

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
