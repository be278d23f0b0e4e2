"""The real clock."""

import time

from domain.ports import Clock


class MonotonicClock(Clock):
    """`time.monotonic()`: unaffected by changes of the wall clock."""

    def __call__(self) -> float:
        """Seconds since an arbitrary fixed point."""
        return time.monotonic()
