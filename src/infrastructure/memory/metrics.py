"""Request metrics kept in this process."""

from collections.abc import Sequence

from domain.endpoint_stats import EndpointStats
from domain.event_loop import EventLoopStats
from domain.metrics import EndpointState, LocalFigures, ProcessMetrics, RequestSample
from domain.ports import Clock, MetricsPort
from domain.queueing import REJECTIONS, Rejection
from domain.slo import Objective, SloCounter


class InMemoryMetrics(MetricsPort):
    """MetricsPort in a dict of per-endpoint stats; one event loop records, so no lock is needed."""

    def __init__(
        self,
        clock: Clock,
        window_s: int = 60,
        process: str = "local",
        loop_interval_s: float | None = None,
        apdex_t_s: float = 0.1,
        objectives: Sequence[Objective] = (),
    ) -> None:
        self._clock = clock
        self._now = clock.__call__  # the bound call itself: for the real clock, the C function (read per request)
        self._window_s = window_s
        self._process = process
        self._started = clock()
        self._endpoints: dict[str, EndpointStats] = {}
        self._apdex_t_s = apdex_t_s
        self._rejected: dict[str, int] = dict.fromkeys(REJECTIONS, 0)
        self._objectives = [SloCounter(objective) for objective in objectives]
        # None where nothing samples the loop (profiling off): /metrics then has no `event_loop`.
        self._loop = None if loop_interval_s is None else EventLoopStats(window_s, loop_interval_s)

    def record(self, sample: RequestSample) -> None:
        """Add one finished request to its endpoint, and count it leaving the app."""
        loop = self._loop
        if loop is not None:
            loop.in_flight -= 1  # EventLoopStats.enter() counted it in; out here, not by a call, on every request
        stats = self._endpoints.get(sample.endpoint)
        if stats is None:
            stats = self._endpoints[sample.endpoint] = EndpointStats(self._window_s, self._apdex_t_s)
        now = self._now()
        felt = sample.felt()
        stats.record(sample, int(now), felt)
        if self._objectives:
            minute = int(now // 60)
            for objective in self._objectives:
                objective.record(sample.status, felt, minute)

    def enter(self) -> None:
        """Count a request entering the app."""
        if self._loop is not None:
            self._loop.enter()

    def reject_request_start(self, reason: Rejection) -> None:
        """Count an X-Request-Start value not recorded."""
        self._rejected[reason] += 1

    def lag(self, seconds: float) -> None:
        """Record one loop lag sample."""
        if self._loop is not None:
            self._loop.lag(seconds, int(self._now()))

    def state(self) -> ProcessMetrics:
        """Every endpoint's figures now; the window rate divides by the window or, early on, by the uptime."""
        now = self._clock()
        span = min(now - self._started, self._window_s)
        return self._process_state(now, {name: stats.state(int(now), span) for name, stats in self._endpoints.items()})

    def figures(self) -> LocalFigures:
        """This process's state without endpoints, its endpoints' summaries read from the live counts, and its
        request rates."""
        now = self._clock()
        second, span = int(now), min(now - self._started, self._window_s)
        summaries = {name: stats.summary(second, span) for name, stats in self._endpoints.items()}
        state = self._process_state(now, {})
        requests = sum(summary.count for summary in summaries.values())
        in_window = sum(summary.window.count for summary in summaries.values())
        rates = (requests / state.uptime_s if state.uptime_s > 0 else 0.0, in_window / span if span > 0 else 0.0)
        return LocalFigures(state, summaries, rates)

    def _process_state(self, now: float, endpoints: dict[str, EndpointState]) -> ProcessMetrics:
        uptime = now - self._started
        loop = None if self._loop is None else self._loop.state(int(now))
        return ProcessMetrics(
            process=self._process,
            uptime_s=uptime,
            window_s=self._window_s,
            endpoints=endpoints,
            event_loop=loop,
            request_starts_rejected=dict(self._rejected),
            slo=tuple(objective.state(int(now // 60), uptime) for objective in self._objectives),
        )
