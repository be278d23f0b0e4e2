"""Fakes for the ports, and dishka providers that put them in place of the real adapters."""

from dishka import Provider, Scope

from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.ports import ItemRepository


class BrokenItemRepository(ItemRepository):
    """Fails every call with an error that carries internal detail a client must never see."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    async def get(self, item_id: int) -> Item | None:
        """Fail."""
        raise self._error

    async def page(self, page: int, size: int) -> ItemPage:
        """Fail."""
        raise self._error

    async def add(self, new: NewItem) -> Item:
        """Fail."""
        raise self._error

    async def replace(self, item_id: int, new: NewItem) -> Item | None:
        """Fail."""
        raise self._error

    async def update(self, item_id: int, patch: ItemPatch) -> Item | None:
        """Fail."""
        raise self._error

    async def delete(self, item_id: int) -> bool:
        """Fail."""
        raise self._error


class ItemRepositoryOverride(Provider):
    """Serve this repository instead of the database's."""

    def __init__(self, repository: ItemRepository) -> None:
        super().__init__(scope=Scope.APP)
        self._repository = repository
        self.provide(self.repository, provides=ItemRepository, override=True)

    def repository(self) -> ItemRepository:
        """The repository given to the override."""
        return self._repository
