"""The ports the use cases need; infrastructure adapters implement them."""

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from domain.caching import CacheStats
from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.metrics import ProcessMetrics, RequestSample
from domain.order_stats import StatusTotal
from domain.orders import Dialect, EncodedBatch, Period

T = TypeVar("T")


class Clock(Protocol):
    """Monotonic seconds for measuring intervals and expiry, and waiting on them; never goes backwards."""

    def __call__(self) -> float: ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""
        ...


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


class CachePort(Protocol):
    """Expiring, tagged cache of msgspec-encodable values that callers treat as immutable."""

    async def get(self, key: str, type: type[T] | None = None) -> T | None: ...

    async def set(self, key: str, value: object, ttl: float | None = None) -> None: ...

    async def tag(self, key: str, *tags: str) -> None: ...

    async def invalidate(self, key: str) -> bool: ...

    async def invalidate_by_tag(self, tag: str) -> int: ...

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        ttl: float | None = None,
        tags: Sequence[str] = (),
        type: type[T] | None = None,
    ) -> tuple[T, bool]: ...

    def get_stats(self) -> CacheStats: ...

    async def cluster_stats(self) -> CacheStats: ...


class MetricsPort(Protocol):
    """Request timings per endpoint in constant memory; `record` runs on every request: synchronous, O(1)."""

    def record(self, sample: RequestSample) -> None: ...

    def state(self) -> ProcessMetrics:
        """Everything recorded so far, as of now: what /metrics reads and what the process publishes."""
        ...


class MetricsSharePort(Protocol):
    """Processes' metrics states shared between instances; a state not republished within its expiry drops out."""

    async def publish(self, state: ProcessMetrics) -> None: ...

    async def live(self) -> list[ProcessMetrics]: ...


class OrderStatsPort(Protocol):
    """Aggregates over every stored order."""

    async def totals_by_status(self) -> list[StatusTotal]: ...


class UpstreamPort(Protocol):
    """A call to a remote service that answers with a short text."""

    async def call(self) -> str: ...


class ShutdownSignal(Protocol):
    """Whether this process has been asked to stop; long-running work checks it between steps."""

    def requested(self) -> bool: ...
