"""HTTP side of the cache: statistics, admin invalidation behind a bearer token, the X-Cache header."""

import hmac
from typing import Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN

from application.caching import GetCacheStats, Invalidated, InvalidateKey, InvalidateTag
from domain.caching import CacheStats
from presentation.http.errors import error_spec
from presentation.settings import Settings

ADMIN_ERRORS = {
    HTTP_401_UNAUTHORIZED: error_spec("Missing or wrong bearer token"),
    HTTP_403_FORBIDDEN: error_spec("Admin operations are disabled: PERFSHOP_ADMIN_TOKEN is not set"),
}


def x_cache(hit: bool) -> dict[str, str]:
    """The `X-Cache` response header: HIT when the body came from the cache."""
    return {"X-Cache": "HIT" if hit else "MISS"}


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Let through only `Authorization: Bearer <PERFSHOP_ADMIN_TOKEN>`; 403 while no token is configured."""
    settings: Settings = await connection.app.state.dishka_container.get(Settings)
    if settings.admin_token is None:
        raise PermissionDeniedException("admin operations are disabled: PERFSHOP_ADMIN_TOKEN is not set")
    scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        raise NotAuthorizedException("a valid admin bearer token is required", headers={"WWW-Authenticate": "Bearer"})


class CacheController(Controller):
    """Cache statistics for everyone; invalidation for the admin."""

    path = "/cache"
    tags = ["cache"]  # noqa: RUF012 - Litestar declares it as a plain list

    @get("/stats")
    @inject
    async def stats(self, get_stats: FromDishka[GetCacheStats]) -> CacheStats:
        """Hits, misses, hit rate, latencies, invalidations, evictions, loads and keys since start."""
        return await get_stats()

    @delete("/tags/{tag:str}", guards=[admin_only], status_code=HTTP_200_OK, responses=ADMIN_ERRORS)
    @inject
    async def invalidate_tag(self, tag: FromPath[str], invalidate: FromDishka[InvalidateTag]) -> Invalidated:
        """Drop every cached key carrying the tag; answers how many were removed."""
        return await invalidate(tag)

    @delete("/keys/{key:str}", guards=[admin_only], status_code=HTTP_200_OK, responses=ADMIN_ERRORS)
    @inject
    async def invalidate_key(self, key: FromPath[str], invalidate: FromDishka[InvalidateKey]) -> Invalidated:
        """Drop one cached key; `removed` is 1 when it was cached."""
        return await invalidate(key)
