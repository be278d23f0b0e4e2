"""Fakes of the ports, for tests that need to control or observe an adapter."""

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any

from dishka import Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.counters import Counters, add_counters, counters_of
from domain.errors import Unavailable
from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.metrics import ProcessMetrics
from domain.orders import Dialect, EncodedBatch, OrderRow, Period, encode_rows
from domain.ports import Clock, ItemRepository, MetricsSharePort, OrderStreamPort, WallClock
from infrastructure.sqla.items import SqlaItemRepository


class FakeOrderStream(OrderStreamPort):
    """`total` generated orders made lazily; counts batches read, notes closing, can fail after `fail_after`."""

    def __init__(self, total: int, fail_after: int | None = None) -> None:
        self.total = total
        self.fail_after = fail_after
        self.batches_read = 0
        self.closed = 0

    async def count(self, period: Period) -> int:
        return self.total

    async def sample(self, period: Period, dialect: Dialect, size: int) -> EncodedBatch:
        rows = [self.row(i) for i in range(min(size, self.total))]
        return EncodedBatch(encode_rows(rows, dialect), len(rows))

    async def batches(self, period: Period, dialect: Dialect, size: int) -> AsyncGenerator[EncodedBatch, None]:
        try:
            for first in range(0, self.total, size):
                if self.fail_after is not None and self.batches_read >= self.fail_after:
                    raise Unavailable("the database went away")
                self.batches_read += 1
                rows = [self.row(i) for i in range(first, min(first + size, self.total))]
                yield EncodedBatch(encode_rows(rows, dialect), len(rows))
        finally:
            self.closed += 1

    @staticmethod
    def row(i: int) -> OrderRow:
        return OrderRow(
            i + 1,
            f"customer {i}",
            "product, boxed",
            1 + i % 9,
            9.5,
            "paid",
            datetime(2024, 1, 1) + timedelta(seconds=i),
        )


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


class FakeClock(Clock):
    """Monotonic seconds that advance only when the test says so; `sleep` returns once they have advanced enough."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Wait until the test has advanced the clock by `seconds`."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, wake))
        try:
            await wake
        finally:
            self._sleepers = [(due, future) for due, future in self._sleepers if future is not wake]

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on this clock now."""
        return sum(not future.done() for _, future in self._sleepers)

    def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose time has come."""
        self.now += seconds
        for due, future in self._sleepers:
            if due <= self.now and not future.done():
                future.set_result(None)


class FakeWallClock(WallClock):
    """Epoch seconds that stand still unless the test sets them."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ParkingItemRepository:
    """Wraps a repository; once `park()` is armed, the next `get` reads its row, then waits for `release`."""

    def __init__(self, inner: ItemRepository) -> None:
        self._inner = inner
        self.parked = asyncio.Event()
        self.release = asyncio.Event()
        self._armed = False

    def park(self) -> None:
        """Make the next `get` stop after reading, until `release` is set."""
        self._armed = True

    async def get(self, item_id: int) -> Item | None:
        item = await self._inner.get(item_id)
        if self._armed:
            self._armed = False
            self.parked.set()
            await self.release.wait()
        return item

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


class ParkingRepositoryProvider(Provider):
    """Serves the real repository wrapped so that a test can hold a read mid-flight."""

    scope = Scope.APP

    def __init__(self) -> None:
        super().__init__()
        self.repository: ParkingItemRepository | None = None

    @provide(override=True)
    def items(self, engine: AsyncEngine) -> ItemRepository:
        self.repository = ParkingItemRepository(SqlaItemRepository(engine))
        return self.repository  # type: ignore[return-value]


class ParkedRow:
    """A database row whose reader, once it has read the row, waits until the test releases it."""

    def __init__(self, **row: str) -> None:
        self.row = row
        self.parked = asyncio.Event()
        self.release = asyncio.Event()

    async def read(self) -> dict[str, str]:
        """Copy the row as it is now, then wait for `release`."""
        seen = dict(self.row)
        self.parked.set()
        await self.release.wait()
        return seen


class FakeMetricsShare(MetricsSharePort):
    """Published states by process, all live, and the departed ones' counters; while `failing` is set every call
    raises Unavailable."""

    def __init__(self) -> None:
        self.states: dict[str, ProcessMetrics] = {}
        self.departed: list[Counters] = []
        self.failing = False

    async def publish(self, state: ProcessMetrics) -> None:
        self._check()
        self.states[state.process] = state

    async def live(self) -> list[ProcessMetrics]:
        self._check()
        return list(self.states.values())

    async def totals(self) -> Counters:
        self._check()
        return add_counters([*self.departed, *map(counters_of, self.states.values())])

    async def leave(self, state: ProcessMetrics) -> None:
        self._check()
        self.states.pop(state.process, None)
        self.departed.append(counters_of(state))

    def _check(self) -> None:
        if self.failing:
            raise Unavailable("the share is down")


class Override(Provider):
    """Serve one given object as `port` to the whole app, in place of the adapter the settings would pick."""

    def __init__(self, port: Any, instance: object) -> None:
        super().__init__(scope=Scope.APP)
        self.provide(lambda: instance, provides=port, override=True)
