"""The ports the use cases need; infrastructure adapters implement them."""

from collections.abc import AsyncGenerator
from typing import Protocol

from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.orders import Dialect, EncodedBatch, Period


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


class OrderStreamPort(Protocol):
    """Orders of a period in (created_at, id) order, encoded exactly as `domain.orders.encode_rows` would."""

    async def count(self, period: Period) -> int:
        """How many orders the period holds."""
        ...

    async def sample(self, period: Period, dialect: Dialect, size: int) -> EncodedBatch:
        """Up to `size` encoded rows from both ends of the period, to estimate the export's size."""
        ...

    def batches(self, period: Period, dialect: Dialect, size: int) -> AsyncGenerator[EncodedBatch, None]:
        """Every row of the period in batches of at most `size`, from one snapshot; closing it stops the reading."""
        ...
