"""Fakes of the ports for tests: time that only moves when told, a repository that can be held mid-read."""

import asyncio

from domain.items import Item
from domain.ports import ItemRepository


class FakeClock:
    """Monotonic seconds that advance only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


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
