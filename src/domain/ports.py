"""The ports the use cases need; infrastructure adapters implement them."""

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from domain.caching import Absence, Absent, CacheStats
from domain.counters import Counters
from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.metrics import LocalFigures, ProcessMetrics, RequestSample
from domain.order_stats import StatusTotal
from domain.orders import Dialect, EncodedBatch, Period
from domain.queueing import Rejection

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


class WallClock(Protocol):
    """Seconds since the epoch: only for comparing with times other machines stamped (a proxy's receipt)."""

    def __call__(self) -> float: ...


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


class Compressor(Protocol):
    """One body compressed as one stream; its calls may take milliseconds of CPU, so callers run them off the loop."""

    def compress(self, data: bytes) -> bytes:
        """`data` compressed and flushed: everything given so far can be decoded from what was returned so far."""
        ...

    def finish(self) -> bytes:
        """The end of the stream: whatever is left and its trailer; the compressor is not used afterwards."""
        ...


class CompressionPort(Protocol):
    """Streaming compressors for the HTTP content codings the service can send."""

    @property
    def codings(self) -> tuple[str, ...]:
        """The supported codings, most preferred first (e.g. `zstd`, `gzip`)."""
        ...

    def open(self, coding: str) -> Compressor:
        """A new compressor for one body in `coding`, one of `codings`."""
        ...


class CachePort(Protocol):
    """Expiring, tagged cache of immutable msgspec-encodable values, which readers may share without copying.

    The value contract, which every adapter honours: a value is a scalar, a frozen Struct or a tuple, or plain data
    (dicts and lists of scalars, dicts and lists) that nobody changes once stored. Reading with `as_type=T` returns
    a T, equal to what decoding the value's msgpack form as T gives (the stored object itself where it already is
    exactly a T); reading without a type returns that plain msgpack form (a Struct as a dict, a tuple as a list).
    A loader's own value reaches the callers that waited for it as it is.
    """

    async def get(self, key: str, as_type: type[T] | None = None) -> T | None:
        """The fresh value under `key` as the value contract says, or None."""
        ...

    async def peek(self, key: str, as_type: type[T]) -> T | Absent | None:
        """The fresh value under `key`, or ABSENT for a remembered absence, counted as a hit (and a negative hit);
        None, counted as nothing, on a miss: for a caller that leaves a miss to the `get_or_load` that follows."""
        ...

    async def set(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store `value` for `ttl` seconds (the adapter's default when None), keeping the key's tags."""
        ...

    async def tag(self, key: str, *tags: str) -> None:
        """Attach tags to a stored key; a missing or expired key is left alone."""
        ...

    async def invalidate(self, key: str) -> bool:
        """Remove one key; True when it was cached. A load of it in flight will not store its value."""
        ...

    async def invalidate_by_tag(self, tag: str) -> int:
        """Remove every key carrying `tag`; how many were removed. Loads in flight under it will not store."""
        ...

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        ttl: float | None = None,
        tags: Sequence[str] = (),
        as_type: type[T] | None = None,
        absence: Absence | None = None,
    ) -> tuple[T, bool]:
        """(value, True) from the cache as `get` reads it, or (loaded value, False); concurrent misses share a load.

        With `absence`, a loader's None is remembered as the port's negative entry, for `absence.ttl` seconds under
        `tags` and `absence.tags`, and is read back as (None, True): a hit, also counted as a negative hit. An
        invalidation of one of `absence.tags` during the load keeps its None from being remembered."""
        ...

    def get_stats(self) -> CacheStats:
        """This instance's counters since start, with the keys and tags it holds."""
        ...

    async def cluster_stats(self) -> CacheStats:
        """The counters of every instance sharing the cache, summed."""
        ...


class MetricsPort(Protocol):
    """Request timings per endpoint, event-loop lag and requests in the app, in constant memory; `enter` and `record`
    run on every request: synchronous, O(1)."""

    def record(self, sample: RequestSample) -> None:
        """A request left the app, having taken what `sample` says."""
        ...

    def enter(self) -> None:
        """A request entered the app; `record` counts it leaving."""
        ...

    def lag(self, seconds: float) -> None:
        """The event loop woke a task `seconds` later than it asked (negative counts as 0)."""
        ...

    def reject_request_start(self, reason: Rejection) -> None:
        """An `X-Request-Start` value was not recorded, for `reason`."""
        ...

    def state(self) -> ProcessMetrics:
        """Everything recorded so far, as of now: what the process publishes and a cluster read merges."""
        ...

    def figures(self) -> LocalFigures:
        """What a read of this process alone needs, as of now: its state without endpoints, each endpoint's summary
        read from the live counts (no span is copied), and its request rates."""
        ...


class MetricsSharePort(Protocol):
    """Processes' metrics states shared between instances; a state not republished within its expiry drops out,
    but its counters stay in the cluster's totals."""

    async def publish(self, state: ProcessMetrics) -> None: ...

    async def live(self) -> list[ProcessMetrics]: ...

    async def totals(self) -> Counters:
        """The counters of every process that ever published, live or departed, each counted exactly once."""
        ...

    async def leave(self, state: ProcessMetrics) -> None:
        """Publish this process's last counters into the departed processes' sum and drop out of the live ones."""
        ...


class OrderStatsPort(Protocol):
    """Aggregates over every stored order."""

    async def totals_by_status(self) -> list[StatusTotal]: ...


class UpstreamPort(Protocol):
    """A call to a remote service that answers with a short text."""

    async def call(self) -> str: ...


class ShutdownSignal(Protocol):
    """Whether this process has been asked to stop; long-running work checks it between steps."""

    def requested(self) -> bool: ...
