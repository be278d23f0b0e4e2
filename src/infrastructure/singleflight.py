"""The load behind a cache's single-flight read-through, shared by every cache adapter."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from domain.caching import CacheCounters


async def run_load(
    future: "asyncio.Future[Any]",
    loader: Callable[[], Awaitable[Any]],
    store: Callable[[Any], Awaitable[None]],
    landed: Callable[[], object],
    stats: CacheCounters,
) -> None:
    """Run `loader` once for every caller waiting on `future`: its value is stored, then handed to them; its error
    reaches them all and nothing is stored. `landed` is called just before the waiters are told."""
    try:
        value = await loader()
    except asyncio.CancelledError:
        landed()
        future.cancel()
        raise
    except Exception as error:  # noqa: BLE001 - every waiter gets the loader's error, nothing is cached
        stats.load_errors += 1
        landed()
        future.set_exception(error)
        future.exception()  # retrieved here: no "never retrieved" warning when nobody waits
        return
    try:
        await store(value)
    finally:
        landed()
        future.set_result(value)


async def join(future: "asyncio.Future[Any]", stats: CacheCounters, clock: Callable[[], float], started: float) -> Any:
    """Wait for a running load as one of its callers, counted as a miss that took until the value arrived."""
    try:
        # shield: a cancelled caller stops waiting, the load goes on for the others.
        return await asyncio.shield(future)
    finally:
        stats.misses += 1
        stats.miss_seconds += clock() - started
