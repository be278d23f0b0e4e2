"""HTTP side of the cache: statistics, admin invalidation, the X-Cache header."""

from typing import Annotated

from dishka import FromDishka
from litestar import Controller, delete, get
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN

from application.caching import GetCacheStats, Invalidated, InvalidateKey, InvalidateTag
from domain.caching import CacheStats, StatsScope
from presentation.http.di import inject
from presentation.http.errors import error_spec

ADMIN_ERRORS = {
    HTTP_401_UNAUTHORIZED: error_spec("Missing or wrong bearer token"),
    HTTP_403_FORBIDDEN: error_spec("Admin operations are disabled: PERFSHOP_ADMIN_TOKEN is not set"),
}


def x_cache(hit: bool) -> dict[str, str]:
    """The `X-Cache` response header: HIT when the body came from the cache."""
    return {"X-Cache": "HIT" if hit else "MISS"}


class CacheController(Controller):
    """Cache statistics for everyone."""

    path = "/cache"
    tags = ["cache"]  # noqa: RUF012 - Litestar declares it as a plain list

    @get("/stats")
    @inject
    async def stats(
        self,
        get_stats: FromDishka[GetCacheStats],
        stats_scope: Annotated[
            StatsScope, QueryParameter(name="scope", description="this process, or every process sharing the cache")
        ] = "local",
    ) -> CacheStats:
        """Hits, misses, hit rate, latencies, invalidations, evictions, loads and keys since start."""
        return await get_stats(stats_scope)


class CacheAdminController(Controller):
    """Invalidation on demand; the app puts it behind the admin guard."""

    path = "/cache"
    tags = ["cache"]  # noqa: RUF012 - Litestar declares it as a plain list

    @delete("/tags/{tag:str}", status_code=HTTP_200_OK, responses=ADMIN_ERRORS)
    @inject
    async def invalidate_tag(self, tag: FromPath[str], invalidate: FromDishka[InvalidateTag]) -> Invalidated:
        """Drop every cached key carrying the tag; answers how many were removed."""
        return await invalidate(tag)

    @delete("/keys/{key:str}", status_code=HTTP_200_OK, responses=ADMIN_ERRORS)
    @inject
    async def invalidate_key(self, key: FromPath[str], invalidate: FromDishka[InvalidateKey]) -> Invalidated:
        """Drop one cached key; `removed` is 1 when it was cached."""
        return await invalidate(key)
