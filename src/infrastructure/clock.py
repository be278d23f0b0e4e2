"""The real clock."""

import asyncio
import time

from domain.ports import Clock, WallClock


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


class SystemWallClock(WallClock):
    """`time.time()`: the system's idea of now, for comparing with times other machines stamped."""

    __call__ = staticmethod(time.time)


# The default of adapters built without a clock (the brief's `CacheManager(default_ttl=300)`): it holds no state.
REAL_CLOCK = MonotonicClock()
