"""HTTP side of the cache: statistics, admin invalidation behind a bearer token, the X-Cache header."""

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN

from application.caching import GetCacheStats, Invalidated, InvalidateKey, InvalidateTag
from domain.caching import CacheStats
from presentation.http.auth import admin_only
from presentation.http.errors import error_spec

ADMIN_ERRORS = {
    HTTP_401_UNAUTHORIZED: error_spec("Missing or wrong bearer token"),
    HTTP_403_FORBIDDEN: error_spec("Admin operations are disabled: PERFSHOP_ADMIN_TOKEN is not set"),
}


def x_cache(hit: bool) -> dict[str, str]:
    """The `X-Cache` response header: HIT when the body came from the cache."""
    return {"X-Cache": "HIT" if hit else "MISS"}


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
