"""The real clock."""

import asyncio
import time

from domain.ports import Clock


class MonotonicClock(Clock):
    """`time.monotonic()`: unaffected by changes of the wall clock."""

    # The C function itself, not a Python method calling it: the clock is read several times per request.
    __call__ = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of real time without blocking the event loop."""
        await asyncio.sleep(seconds)


# The default of adapters built without a clock (the brief's `CacheManager(default_ttl=300)`): it holds no state.
REAL_CLOCK = MonotonicClock()
