"""Use cases of the `items` resource: reads go through the cache as encoded representations, writes fire cache
events after commit."""

from application.caching import CacheEvent
from domain.caching import (
    Absence,
    Absent,
    CacheTtls,
    Representation,
    detail_key,
    detail_tags,
    list_key,
    list_tags,
    missing_tag,
    represent,
)
from domain.errors import NotFound
from domain.items import Item, ItemPatch, NewItem
from domain.ports import CachePort, ItemRepository

ITEMS = "items"


def _missing(item_id: int) -> NotFound:
    return NotFound(f"item {item_id} not found")


def _found(item: Item | None, item_id: int) -> Item:
    if item is None:
        raise _missing(item_id)
    return item


class ListItems:
    """One page of items in id order (an `ItemPage`) as JSON, and whether it came from the cache."""

    def __init__(self, items: ItemRepository, cache: CachePort, ttls: CacheTtls) -> None:
        self._items = items
        self._cache = cache
        self._ttl = ttls.list

    async def __call__(self, page: int, size: int) -> tuple[Representation, bool]:
        async def load() -> Representation:
            return represent(await self._items.page(page, size))

        key = list_key(ITEMS, page, size)
        return await self._cache.get_or_load(key, load, self._ttl, list_tags(ITEMS), Representation)


class GetItem:
    """One item as JSON, or NotFound, and whether it came from the cache; a missing id is remembered for
    `ttls.not_found` seconds (until an item is created), so a scan of missing ids reads each once."""

    def __init__(self, items: ItemRepository, cache: CachePort, ttls: CacheTtls) -> None:
        self._items = items
        self._cache = cache
        self._ttl = ttls.detail
        self._absence = Absence(ttls.not_found, (missing_tag(ITEMS),)) if ttls.not_found > 0 else None

    async def __call__(self, item_id: int) -> tuple[Representation, bool]:
        async def load() -> Representation | None:
            item = await self._items.get(item_id)
            if item is not None:
                return represent(item)
            if self._absence is None:
                raise _missing(item_id)
            return None

        key = detail_key(ITEMS, item_id)
        # Read as `Representation | None`: None is the remembered absence.
        as_type: type[Representation | None] = Representation
        found, hit = await self._cache.get_or_load(key, load, self._ttl, detail_tags(ITEMS), as_type, self._absence)
        if found is None:
            raise _missing(item_id)
        return found, hit


class CachedItems:
    """The cached JSON of an item or a page when the cache holds it, counted as a hit (NotFound for an id
    remembered missing); None on a miss, left to `GetItem` and `ListItems` to count and load."""

    def __init__(self, cache: CachePort) -> None:
        self._cache = cache

    async def item(self, item_id: int) -> Representation | None:
        """The item's cached JSON, NotFound when the id is remembered missing, or None."""
        cached = await self._cache.peek(detail_key(ITEMS, item_id), Representation)
        if isinstance(cached, Absent):
            raise _missing(item_id)
        return cached

    async def page(self, page: int, size: int) -> Representation | None:
        """The page's cached JSON, or None."""
        cached = await self._cache.peek(list_key(ITEMS, page, size), Representation)
        return None if isinstance(cached, Absent) else cached  # pages are loaded without an Absence


class CreateItem:
    """Store a new item and return it with its id and timestamps."""

    def __init__(self, items: ItemRepository, events: CacheEvent) -> None:
        self._items = items
        self._events = events

    async def __call__(self, new: NewItem) -> Item:
        item = await self._items.add(new)
        await self._events.on_create(ITEMS)
        return item


class ReplaceItem:
    """Replace every client-owned field of an item, or NotFound."""

    def __init__(self, items: ItemRepository, events: CacheEvent) -> None:
        self._items = items
        self._events = events

    async def __call__(self, item_id: int, new: NewItem) -> Item:
        item = _found(await self._items.replace(item_id, new), item_id)
        await self._events.on_update(ITEMS, item_id)
        return item


class UpdateItem:
    """Change only the fields a patch carries, or NotFound."""

    def __init__(self, items: ItemRepository, events: CacheEvent) -> None:
        self._items = items
        self._events = events

    async def __call__(self, item_id: int, patch: ItemPatch) -> Item:
        item = _found(await self._items.update(item_id, patch), item_id)
        await self._events.on_update(ITEMS, item_id)
        return item


class DeleteItem:
    """Remove an item, or NotFound."""

    def __init__(self, items: ItemRepository, events: CacheEvent) -> None:
        self._items = items
        self._events = events

    async def __call__(self, item_id: int) -> None:
        if not await self._items.delete(item_id):
            raise _missing(item_id)
        await self._events.on_delete(ITEMS, item_id)
