"""dishka providers: which adapter serves which port, for the settings at hand."""

from collections.abc import AsyncIterator

from dishka import Provider, Scope, from_context, provide, provide_all
from dishka.integrations.litestar import LitestarProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from application.health import CheckHealth
from application.items import CreateItem, DeleteItem, GetItem, ListItems, ReplaceItem, UpdateItem
from domain.ports import HealthProbe, ItemRepository
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


class UseCaseProvider(Provider):
    """Use cases are stateless, so one instance of each serves every request."""

    scope = Scope.APP
    use_cases = provide_all(ListItems, GetItem, CreateItem, ReplaceItem, UpdateItem, DeleteItem, CheckHealth)


def providers_for(settings: Settings) -> list[Provider]:
    """The providers that wire the app for these settings."""
    return [StorageProvider(), UseCaseProvider(), LitestarProvider()]
