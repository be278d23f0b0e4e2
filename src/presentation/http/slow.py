"""Deliberately slow endpoints for exercising the profiler."""

from dishka import FromDishka
from litestar import Controller, get

from application.slow import (
    CallSlowUpstream,
    QueryReport,
    RunSlowQuery,
    SerializationReport,
    SerializeLargePayload,
    UpstreamReport,
)
from presentation.http.di import inject


class SlowController(Controller):
    """About 200, 100 and 500 ms of real or awaited work; the event loop keeps serving meanwhile."""

    path = "/slow"
    tags = ["slow"]  # noqa: RUF012 - Litestar declares it as a plain list

    @get("/db-query")
    @inject
    async def db_query(self, run: FromDishka[RunSlowQuery]) -> QueryReport:
        """Orders and revenue per status: a full aggregate over the orders, at least 200 ms."""
        return await run()

    @get("/serialization")
    @inject
    async def serialization(self, run: FromDishka[SerializeLargePayload]) -> SerializationReport:
        """JSON-encode generated rows for 100 ms, in slices that leave the event loop serving."""
        return await run()

    @get("/external-api")
    @inject
    async def external_api(self, run: FromDishka[CallSlowUpstream]) -> UpstreamReport:
        """Await a simulated upstream service that takes 500 ms."""
        return await run()
