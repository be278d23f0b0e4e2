"""dishka providers: which adapter serves which port, for the settings at hand."""

from collections.abc import AsyncIterator

from dishka import Provider, Scope, from_context, provide, provide_all
from dishka.integrations.litestar import LitestarProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from application.health import CheckHealth
from application.items import CreateItem, DeleteItem, GetItem, ListItems, ReplaceItem, UpdateItem
from application.metrics import GetMetrics, GetPrometheusMetrics
from application.slow import CallSlowUpstream, RunSlowQuery, SerializeLargePayload
from domain.ports import Clock, HealthProbe, ItemRepository, MetricsPort, OrderStatsPort, UpstreamPort
from infrastructure.clock import MonotonicClock
from infrastructure.memory.metrics import InMemoryMetrics
from infrastructure.memory.upstream import SimulatedUpstream
from infrastructure.sqla.engine import SqlaHealthProbe, make_engine
from infrastructure.sqla.items import SqlaItemRepository
from infrastructure.sqla.order_stats import SqlaOrderStats
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


class UseCaseProvider(Provider):
    """Use cases are stateless, so one instance of each serves every request."""

    scope = Scope.APP
    use_cases = provide_all(ListItems, GetItem, CreateItem, ReplaceItem, UpdateItem, DeleteItem, CheckHealth)


class ProfilingProvider(Provider):
    """The clock, the request metrics, the /metrics use cases and the deliberately slow endpoints."""

    scope = Scope.APP
    settings = from_context(provides=Settings)
    clock = provide(MonotonicClock, provides=Clock)
    use_cases = provide_all(GetMetrics, GetPrometheusMetrics, CallSlowUpstream)

    @provide
    def metrics(self, clock: Clock, settings: Settings) -> MetricsPort:
        """Request metrics of this process over the configured window."""
        return InMemoryMetrics(clock, window_s=settings.metrics_window_s)

    @provide
    def order_stats(self, engine: AsyncEngine) -> OrderStatsPort:
        """Aggregates over the orders in the database."""
        return SqlaOrderStats(engine)

    @provide
    def upstream(self) -> UpstreamPort:
        """The simulated slow upstream service (500 ms)."""
        return SimulatedUpstream(latency_s=0.5)

    @provide
    def slow_query(self, stats: OrderStatsPort, clock: Clock) -> RunSlowQuery:
        """The slow query's use case (at least 200 ms)."""
        return RunSlowQuery(stats, clock, target_s=0.2)

    @provide
    def serialize(self, clock: Clock, settings: Settings) -> SerializeLargePayload:
        """The serialization endpoint's use case, with its payload size from the settings."""
        return SerializeLargePayload(clock, rows=settings.slow_payload_rows, target_s=0.1)


def providers_for(settings: Settings) -> list[Provider]:
    """The providers that wire the app for these settings."""
    return [StorageProvider(), UseCaseProvider(), ProfilingProvider(), LitestarProvider()]
