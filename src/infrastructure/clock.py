"""The real clock."""

import time

from domain.ports import Clock


class MonotonicClock(Clock):
    """`time.monotonic()`: unaffected by changes of the wall clock."""

    # The C function itself, not a Python method calling it: the clock is read several times per request.
    __call__ = staticmethod(time.monotonic)
