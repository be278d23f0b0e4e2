"""dishka providers: which adapter serves which port, for the settings at hand."""

import time
from collections.abc import AsyncIterator

from dishka import Provider, Scope, from_context, provide, provide_all
from dishka.integrations.litestar import LitestarProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from application.export import CountExport, ExportLimits, StreamingCSVExporter
from application.health import CheckHealth
from application.items import CreateItem, DeleteItem, GetItem, ListItems, ReplaceItem, UpdateItem
from domain.ports import Clock, HealthProbe, ItemRepository, OrderStreamPort
from infrastructure.sqla.engine import SqlaHealthProbe, is_sqlite, make_engine
from infrastructure.sqla.items import SqlaItemRepository
from infrastructure.sqla.orders import SqliteOrderStream
from infrastructure.sqla.pg_orders import PostgresOrderStream
from presentation.settings import Settings


class StorageProvider(Provider):
    """The database engine and the adapters on it."""

    scope = Scope.APP
    settings = from_context(provides=Settings)

    @provide
    async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
        """One pooled engine per process, disposed at shutdown."""
        engine = make_engine(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
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


class UseCaseProvider(Provider):
    """One instance of each use case serves every request (the exporter's slots are per process)."""

    scope = Scope.APP
    use_cases = provide_all(ListItems, GetItem, CreateItem, ReplaceItem, UpdateItem, DeleteItem, CheckHealth)
    exports = provide_all(StreamingCSVExporter, CountExport)

    @provide
    def export_limits(self, settings: Settings) -> ExportLimits:
        """Batch size and concurrency cap of exports."""
        return ExportLimits(batch_size=settings.export_batch_size, max_concurrent=settings.export_max_concurrent)

    @provide
    def clock(self) -> Clock:
        """Monotonic seconds."""
        return time.monotonic


def providers_for(settings: Settings) -> list[Provider]:
    """The providers that wire the app for these settings."""
    return [StorageProvider(), UseCaseProvider(), LitestarProvider()]
