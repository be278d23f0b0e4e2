"""dishka providers: which adapter serves which port, for the settings at hand."""

from collections.abc import AsyncIterator, Callable

from dishka import Provider, Scope, from_context, provide, provide_all
from dishka.integrations.litestar import LitestarProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from application.caching import CacheEvent, GetCacheStats, InvalidateKey, InvalidateTag, log_change
from application.health import CheckHealth
from application.items import CreateItem, DeleteItem, GetItem, ListItems, ReplaceItem, UpdateItem
from domain.caching import CacheTtls
from domain.ports import CachePort, HealthProbe, ItemRepository
from infrastructure.memory.cache import CacheManager
from infrastructure.redis.cache import RedisCache, make_redis_client
from infrastructure.sqla.engine import SqlaHealthProbe, make_engine
from infrastructure.sqla.items import SqlaItemRepository
from presentation.settings import Settings


class StorageProvider(Provider):
    """The database engine and the adapters on it."""

    scope = Scope.APP
    settings = from_context(provides=Settings)

    @provide
    async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
        """One pooled engine per process, disposed at shutdown."""
        engine = make_engine(settings.database_url)
        yield engine
        await engine.dispose()

    @provide
    def items(self, engine: AsyncEngine) -> ItemRepository:
        """Items in the database."""
        return SqlaItemRepository(engine)

    @provide
    def health_probe(self, engine: AsyncEngine) -> HealthProbe:
        """Reachability of the database."""
        return SqlaHealthProbe(engine)


class CacheProvider(Provider):
    """The process's cache, its freshness policy and its change events."""

    scope = Scope.APP

    @provide
    async def cache(self, settings: Settings) -> AsyncIterator[CachePort]:
        """Redis shared by every process when PERFSHOP_REDIS_URL is set, else the in-process cache."""
        if settings.redis_url is None:
            yield CacheManager(default_ttl=settings.cache_default_ttl, max_entries=settings.cache_max_entries)
            return
        timeout = settings.redis_timeout_ms / 1000
        l1: Callable[[], CachePort] | None = None
        if settings.cache_l1_ttl > 0:

            def l1() -> CachePort:
                return CacheManager(default_ttl=settings.cache_l1_ttl, max_entries=settings.cache_max_entries)

        cache = RedisCache(
            make_redis_client(settings.redis_url, timeout),
            prefix=settings.redis_prefix,
            default_ttl=settings.cache_default_ttl,
            timeout=timeout,
            l1=l1,
            l1_ttl=settings.cache_l1_ttl,
        )
        await cache.start()
        yield cache
        await cache.close()

    @provide
    def ttls(self, settings: Settings) -> CacheTtls:
        """How long items and item pages stay cached."""
        return CacheTtls(detail=settings.cache_item_ttl, list=settings.cache_list_ttl)

    @provide
    def events(self, cache: CachePort) -> CacheEvent:
        """Change events, logged at DEBUG level."""
        events = CacheEvent(cache)
        events.subscribe(log_change)
        return events


class UseCaseProvider(Provider):
    """Use cases are stateless, so one instance of each serves every request."""

    scope = Scope.APP
    use_cases = provide_all(ListItems, GetItem, CreateItem, ReplaceItem, UpdateItem, DeleteItem, CheckHealth)
    cache_use_cases = provide_all(GetCacheStats, InvalidateTag, InvalidateKey)


def providers_for(settings: Settings) -> list[Provider]:
    """The providers that wire the app for these settings."""
    return [StorageProvider(), CacheProvider(), UseCaseProvider(), LitestarProvider()]
