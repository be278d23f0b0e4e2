"""The request metrics as JSON and in the Prometheus text format."""

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, get

from application.metrics import GetMetrics, GetPrometheusMetrics
from domain.metrics import MetricsReport
from presentation.http.auth import metrics_viewers

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class MetricsController(Controller):
    """Per-endpoint timings recorded by the profiling middleware."""

    path = "/metrics"
    guards = [metrics_viewers]  # noqa: RUF012 - Litestar declares it as a plain list
    tags = ["metrics"]  # noqa: RUF012 - Litestar declares it as a plain list

    @get("/")
    @inject
    async def metrics(self, get_metrics: FromDishka[GetMetrics]) -> MetricsReport:
        """Lifetime and window figures per endpoint, the five slowest endpoints and the request rates."""
        return await get_metrics()

    @get("/prometheus", media_type=PROMETHEUS_TEXT)
    @inject
    async def prometheus(self, get_text: FromDishka[GetPrometheusMetrics]) -> str:
        """Request counter and duration histogram by method, route template and status class."""
        return await get_text()
