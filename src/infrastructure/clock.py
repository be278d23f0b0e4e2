"""The real clock."""

import asyncio
import time

from domain.ports import Clock


class MonotonicClock(Clock):
    """`time.monotonic()`: unaffected by changes of the wall clock."""

    # The C function itself, not a Python method calling it: the clock is read several times per request.
    __call__ = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        """Wait at least `seconds` by this clock without blocking the event loop."""
        deadline = time.monotonic() + seconds
        left = seconds
        # uvloop rounds its timers to the millisecond and may wake a little early: wait out the rest.
        while left > 0:
            await asyncio.sleep(left)
            left = deadline - time.monotonic()


# The default of adapters built without a clock (the brief's `CacheManager(default_ttl=300)`): it holds no state.
REAL_CLOCK = MonotonicClock()
