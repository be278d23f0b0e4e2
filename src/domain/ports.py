"""The ports the use cases need; infrastructure adapters implement them."""

from typing import Protocol

from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.metrics import MetricsSnapshot, RequestSample
from domain.order_stats import StatusTotal


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


class MetricsPort(Protocol):
    """Request timings per endpoint in constant memory; `record` runs on every request: synchronous, O(1)."""

    def record(self, sample: RequestSample) -> None: ...

    def snapshot(self) -> MetricsSnapshot: ...


class OrderStatsPort(Protocol):
    """Aggregates over every stored order."""

    async def totals_by_status(self) -> list[StatusTotal]: ...


class UpstreamPort(Protocol):
    """A call to a remote service that answers with a short text."""

    async def call(self) -> str: ...
