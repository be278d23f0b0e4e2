"""The request metrics as JSON and in the Prometheus text format."""

from typing import Annotated

from dishka import FromDishka
from litestar import Controller, get
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_503_SERVICE_UNAVAILABLE

from application.metrics import GetMetrics, Scope
from application.prometheus import GetPrometheusMetrics, PrometheusScope
from domain.metrics import MetricsReport
from presentation.http.di import inject
from presentation.http.errors import error_spec

# Litestar appends "; charset=utf-8" to a text/* media type: the header scrapers get is exactly
# "text/plain; version=0.0.4; charset=utf-8".
PROMETHEUS_TEXT = "text/plain; version=0.0.4"
METRICS_AUTH = {HTTP_401_UNAUTHORIZED: error_spec("PERFSHOP_METRICS_TOKEN is set and the request does not carry it")}
PROMETHEUS_RESPONSES = {
    **METRICS_AUTH,
    HTTP_503_SERVICE_UNAVAILABLE: error_spec("scope=cluster and the metrics share in Redis cannot be read"),
}

ScopeParameter = Annotated[
    Scope | None,
    QueryParameter(
        name="scope",
        description="`local`: this process alone; `cluster` (the default when PERFSHOP_REDIS_URL is set): "
        "every live process, merged.",
    ),
]
PrometheusScopeParameter = Annotated[
    PrometheusScope | None,
    QueryParameter(
        name="scope",
        description="`cluster` (the default when PERFSHOP_REDIS_URL is set): totals over every process that ever "
        "served, departed ones included, without a process label; `process`: every live process's own series, "
        "labelled `process`; `local`: this process's own series.",
    ),
]


class MetricsController(Controller):
    """Per-endpoint timings recorded by the profiling middleware; the app puts it behind the metrics guard."""

    path = "/metrics"
    tags = ["metrics"]  # noqa: RUF012 - Litestar declares it as a plain list

    @get("/", responses=METRICS_AUTH)
    @inject
    async def metrics(self, get_metrics: FromDishka[GetMetrics], wanted: ScopeParameter = None) -> MetricsReport:
        """Lifetime and window figures per endpoint, the five slowest endpoints and the request rates."""
        return await get_metrics(wanted)

    @get("/prometheus", media_type=PROMETHEUS_TEXT, responses=PROMETHEUS_RESPONSES)
    @inject
    async def prometheus(
        self, get_text: FromDishka[GetPrometheusMetrics], wanted: PrometheusScopeParameter = None
    ) -> str:
        """Request counter and duration histogram by method, route template and status class, loop lag histogram,
        requests in the app and objectives' good and bad requests: the cluster's totals, or by process."""
        return await get_text(wanted)
