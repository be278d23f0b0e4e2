"""Liveness and database reachability."""

from dishka import FromDishka
from litestar import Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from application.health import CheckHealth, Health
from presentation.http.di import inject


@get("/health", tags=["health"])
@inject
async def health(check_health: FromDishka[CheckHealth]) -> Response[Health]:
    """`ok` with 200 while the database answers, `degraded` with 503 when it does not."""
    result = await check_health()
    return Response(result, status_code=HTTP_200_OK if result.status == "ok" else HTTP_503_SERVICE_UNAVAILABLE)
