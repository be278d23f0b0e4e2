"""dishka providers: which adapter serves which port, for the settings at hand."""

import os
import socket
from collections.abc import AsyncIterator
from functools import partial

from dishka import Provider, Scope, alias, from_context, provide, provide_all
from sqlalchemy.ext.asyncio import AsyncEngine

from application.caching import CacheEvent, GetCacheStats, InvalidateKey, InvalidateTag, log_change
from application.export import CountExport, ExportLimits, StreamingCSVExporter
from application.health import CheckHealth
from application.items import CachedItems, CreateItem, DeleteItem, GetItem, ListItems, ReplaceItem, UpdateItem
from application.metrics import GetMetrics, MetricsStates, PublishMetrics, SampleLoopLag, ShareFaults
from application.prometheus import GetPrometheusMetrics
from application.slow import CallSlowUpstream, RunSlowQuery, SerializeLargePayload
from domain.caching import CacheTtls
from domain.ports import (
    CachePort,
    Clock,
    CompressionPort,
    HealthProbe,
    ItemRepository,
    MetricsPort,
    MetricsSharePort,
    OrderStatsPort,
    OrderStreamPort,
    ShutdownSignal,
    UpstreamPort,
    WallClock,
)
from infrastructure.clock import MonotonicClock, SystemWallClock
from infrastructure.compression import StreamingCompression
from infrastructure.memory.cache import CacheManager
from infrastructure.memory.metrics import InMemoryMetrics
from infrastructure.memory.upstream import SimulatedUpstream
from infrastructure.process import SignalShutdown
from infrastructure.redis.cache import RedisCache
from infrastructure.redis.client import make_redis_client
from infrastructure.redis.metrics import RedisMetricsShare
from infrastructure.sqla.engine import SqlaHealthProbe, is_sqlite, make_engine
from infrastructure.sqla.items import SqlaItemRepository
from infrastructure.sqla.order_stats import SqlaOrderStats
from infrastructure.sqla.orders import SqliteOrderStream
from infrastructure.sqla.pg_orders import PostgresOrderStream
from presentation.http.encoding import EncodingNegotiation
from presentation.settings import Settings


class ProcessProvider(Provider):
    """What every other provider may use: the settings, the clock and the process's shutdown signal."""

    scope = Scope.APP
    settings = from_context(provides=Settings)
    clock = provide(MonotonicClock, provides=Clock)
    wall_clock = provide(SystemWallClock, provides=WallClock)
    shutdown = provide(SignalShutdown)
    shutdown_signal = alias(source=SignalShutdown, provides=ShutdownSignal)


class StorageProvider(Provider):
    """The database engine and the adapters on it."""

    scope = Scope.APP

    @provide
    async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
        """One pooled engine per process, disposed at shutdown."""
        engine = make_engine(
            settings.database_url,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            pool_size=settings.db_pool_size,
            pool_timeout_s=settings.db_pool_timeout_s,
        )
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

    @provide
    def order_stream(self, engine: AsyncEngine) -> OrderStreamPort:
        """Orders for export, encoded by the database."""
        if is_sqlite(engine):
            return SqliteOrderStream(engine)
        return PostgresOrderStream(engine)


class InProcessCacheProvider(Provider):
    """The cache of one process, for a single instance."""

    scope = Scope.APP

    @provide
    def cache(self, settings: Settings, clock: Clock) -> CachePort:
        """The in-process cache."""
        return CacheManager(default_ttl=settings.cache_default_ttl, max_entries=settings.cache_max_entries, clock=clock)

    @provide
    def metrics_share(self) -> MetricsSharePort | None:
        """Nothing to share metrics with: /metrics answers for this process."""
        return None


class RedisProvider(Provider):
    """The cache and the metrics shared by every process through Redis (PERFSHOP_REDIS_URL)."""

    scope = Scope.APP

    @provide
    async def cache(self, settings: Settings, clock: Clock) -> AsyncIterator[CachePort]:
        """The Redis cache, with an in-process L1 unless PERFSHOP_CACHE_L1_TTL is 0."""
        assert settings.redis_url is not None
        timeout = settings.redis_timeout_ms / 1000
        l1 = partial(
            CacheManager, default_ttl=settings.cache_l1_ttl, max_entries=settings.cache_max_entries, clock=clock
        )
        cache = RedisCache(
            make_redis_client(settings.redis_url, timeout),
            prefix=settings.redis_prefix,
            default_ttl=settings.cache_default_ttl,
            timeout=timeout,
            l1=l1 if settings.cache_l1_ttl > 0 else None,
            l1_ttl=settings.cache_l1_ttl,
            clock=clock,
        )
        await cache.start()
        yield cache
        await cache.close()

    @provide
    async def metrics_share(self, settings: Settings) -> AsyncIterator[MetricsSharePort | None]:
        """The processes' metrics states, shared through Redis."""
        assert settings.redis_url is not None
        # Short timeouts: a slow Redis must not hold up /metrics, which then answers for this process alone.
        client = make_redis_client(settings.redis_url, 1.0, read_timeout=1.0)
        yield RedisMetricsShare(client, prefix=settings.redis_prefix, expiry_s=3 * settings.metrics_publish_s)
        await client.aclose()


class CacheProvider(Provider):
    """The cache's freshness policy and its change events, whichever cache serves."""

    scope = Scope.APP

    @provide
    def ttls(self, settings: Settings) -> CacheTtls:
        """How long items and item pages stay cached, and missing ids are remembered."""
        return CacheTtls(
            detail=settings.cache_item_ttl, list=settings.cache_list_ttl, not_found=settings.cache_not_found_ttl
        )

    @provide
    def events(self, cache: CachePort) -> CacheEvent:
        """Change events, logged at DEBUG level."""
        events = CacheEvent(cache)
        events.subscribe(log_change)
        return events


class UseCaseProvider(Provider):
    """One instance of each use case serves every request (the exporter's slots are per process)."""

    scope = Scope.APP
    use_cases = provide_all(
        ListItems, GetItem, CachedItems, CreateItem, ReplaceItem, UpdateItem, DeleteItem, CheckHealth
    )
    cache_use_cases = provide_all(GetCacheStats, InvalidateTag, InvalidateKey)

    exports = provide_all(StreamingCSVExporter, CountExport)

    @provide
    def export_limits(self, settings: Settings) -> ExportLimits:
        """Batch size and concurrency cap of exports."""
        return ExportLimits(batch_size=settings.export_batch_size, max_concurrent=settings.export_max_concurrent)


class CompressionProvider(Provider):
    """The download's compressors, and the negotiation of its content coding among them."""

    scope = Scope.APP
    compression = provide(StreamingCompression, provides=CompressionPort)

    @provide
    def negotiation(self, compression: CompressionPort) -> EncodingNegotiation:
        """Accept-Encoding against the codings the compressors support, zstd first."""
        return EncodingNegotiation(compression.codings)


class ProfilingProvider(Provider):
    """The request metrics, the /metrics use cases and the deliberately slow endpoints."""

    scope = Scope.APP
    use_cases = provide_all(
        GetMetrics, GetPrometheusMetrics, PublishMetrics, MetricsStates, ShareFaults, CallSlowUpstream
    )

    @provide
    def metrics(self, clock: Clock, settings: Settings) -> MetricsPort:
        """Request metrics of this process over the configured window, named after its host and pid; with the
        event loop's lag while profiling samples it."""
        return InMemoryMetrics(
            clock,
            window_s=settings.metrics_window_s,
            process=f"{socket.gethostname()}:{os.getpid()}",
            loop_interval_s=settings.loop_lag_interval_ms / 1000 if settings.profiling else None,
            apdex_t_s=settings.apdex_t_ms / 1000,
            objectives=settings.objectives(),
        )

    @provide
    def loop_lag_sampler(self, metrics: MetricsPort, clock: Clock, settings: Settings) -> SampleLoopLag:
        """The loop lag sampler, every PERFSHOP_LOOP_LAG_INTERVAL_MS."""
        return SampleLoopLag(metrics, clock, settings.loop_lag_interval_ms / 1000)

    @provide
    def order_stats(self, engine: AsyncEngine) -> OrderStatsPort:
        """Aggregates over the orders in the database."""
        return SqlaOrderStats(engine)

    @provide
    def upstream(self, clock: Clock) -> UpstreamPort:
        """The simulated slow upstream service (500 ms)."""
        return SimulatedUpstream(clock, latency_s=0.5)

    @provide
    def slow_query(self, stats: OrderStatsPort, clock: Clock) -> RunSlowQuery:
        """The slow query's use case (at least 200 ms)."""
        return RunSlowQuery(stats, clock, target_s=0.2)

    @provide
    def serialize(self, clock: Clock) -> SerializeLargePayload:
        """The serialization endpoint's use case (100 ms of encoding)."""
        return SerializeLargePayload(clock, budget_s=0.1)


def providers_for(settings: Settings) -> list[Provider]:
    """The providers that wire the app for these settings: Redis shares the cache and the metrics when set."""
    shared = RedisProvider() if settings.redis_url is not None else InProcessCacheProvider()
    return [
        ProcessProvider(),
        StorageProvider(),
        shared,
        CacheProvider(),
        CompressionProvider(),
        UseCaseProvider(),
        ProfilingProvider(),
    ]
