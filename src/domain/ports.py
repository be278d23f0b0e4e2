"""The ports the use cases need; infrastructure adapters implement them."""

from typing import Protocol

from domain.items import Item, ItemPage, ItemPatch, NewItem


class Clock(Protocol):
    """Monotonic seconds for measuring intervals and expiry; never goes backwards."""

    def __call__(self) -> float: ...


class ItemRepository(Protocol):
    """Durable items; every write is committed before the method returns."""

    async def get(self, item_id: int) -> Item | None: ...

    async def page(self, page: int, size: int) -> ItemPage: ...

    async def add(self, new: NewItem) -> Item: ...

    async def replace(self, item_id: int, new: NewItem) -> Item | None: ...

    async def update(self, item_id: int, patch: ItemPatch) -> Item | None: ...

    async def delete(self, item_id: int) -> bool: ...


class HealthProbe(Protocol):
    """Whether the database answers a trivial query."""

    async def database_reachable(self) -> bool: ...
