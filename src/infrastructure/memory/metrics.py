"""Request metrics kept in this process."""

from domain.metrics import EndpointStats, ProcessMetrics, RequestSample
from domain.ports import Clock, MetricsPort


class InMemoryMetrics(MetricsPort):
    """MetricsPort in a dict of per-endpoint stats; one event loop records, so no lock is needed."""

    def __init__(self, clock: Clock, window_s: int = 60, process: str = "local") -> None:
        self._clock = clock
        self._now = clock.__call__  # the bound call itself: for the real clock, the C function (read per request)
        self._window_s = window_s
        self._process = process
        self._started = clock()
        self._endpoints: dict[str, EndpointStats] = {}

    def record(self, sample: RequestSample) -> None:
        """Add one finished request to its endpoint."""
        stats = self._endpoints.get(sample.endpoint)
        if stats is None:
            stats = self._endpoints[sample.endpoint] = EndpointStats(self._window_s)
        stats.record(sample, int(self._now()))

    def state(self) -> ProcessMetrics:
        """Every endpoint's figures now; the window rate divides by the window or, early on, by the uptime."""
        now = self._clock()
        uptime = now - self._started
        span = min(uptime, self._window_s)
        endpoints = {name: stats.state(int(now), span) for name, stats in self._endpoints.items()}
        return ProcessMetrics(process=self._process, uptime_s=uptime, window_s=self._window_s, endpoints=endpoints)
