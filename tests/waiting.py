"""Waiting on a condition inside the test's own event loop, with a deadline far above the usual time."""

import asyncio
import time
from collections.abc import Callable


async def until(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Yield to the event loop until `condition()` holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"the condition did not hold within {within} s"
        await asyncio.sleep(0.001)
