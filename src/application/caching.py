"""Cache events after committed changes, and the cache's admin use cases."""

import logging
from collections.abc import Awaitable, Callable

from msgspec import Struct

from domain.caching import CacheStats, ResourceChange
from domain.ports import CachePort

logger = logging.getLogger("perfshop.cache")

Subscriber = Callable[[ResourceChange], Awaitable[None]]


class CacheEvent:
    """After a committed change, drop the resource's stale entries, then tell every subscriber."""

    def __init__(self, cache: CachePort) -> None:
        self._cache = cache
        self._subscribers: list[Subscriber] = []

    def subscribe(self, handler: Subscriber) -> None:
        """Call `handler` after each change's invalidation; its failures are logged, never raised."""
        self._subscribers.append(handler)

    async def on_create(self, resource_type: str) -> None:
        """A resource was created: its lists are stale."""
        await self._publish(ResourceChange("create", resource_type))

    async def on_update(self, resource_type: str, resource_id: int | str) -> None:
        """A resource was changed: its detail and its lists are stale."""
        await self._publish(ResourceChange("update", resource_type, resource_id))

    async def on_delete(self, resource_type: str, resource_id: int | str) -> None:
        """A resource was deleted: its detail and its lists are stale."""
        await self._publish(ResourceChange("delete", resource_type, resource_id))

    async def _publish(self, change: ResourceChange) -> None:
        for key in change.stale_keys():
            await self._cache.invalidate(key)
        for tag in change.stale_tags():
            await self._cache.invalidate_by_tag(tag)
        for handler in self._subscribers:
            try:
                await handler(change)
            except Exception:
                logger.exception("cache subscriber %r failed on %s %s", handler, change.action, change.resource)


async def log_change(change: ResourceChange) -> None:
    """A subscriber that records each invalidation at DEBUG level."""
    logger.debug("invalidated cache for %s %s %s", change.action, change.resource, change.resource_id or "")


class Invalidated(Struct, frozen=True):
    """How many cached keys an admin invalidation removed."""

    removed: int


class GetCacheStats:
    """The cache's statistics."""

    def __init__(self, cache: CachePort) -> None:
        self._cache = cache

    async def __call__(self) -> CacheStats:
        return self._cache.get_stats()


class InvalidateTag:
    """Drop every cached key carrying a tag."""

    def __init__(self, cache: CachePort) -> None:
        self._cache = cache

    async def __call__(self, tag: str) -> Invalidated:
        return Invalidated(await self._cache.invalidate_by_tag(tag))


class InvalidateKey:
    """Drop one cached key."""

    def __init__(self, cache: CachePort) -> None:
        self._cache = cache

    async def __call__(self, key: str) -> Invalidated:
        return Invalidated(int(await self._cache.invalidate(key)))
