"""Use cases of the `items` resource: reads go through the cache, writes fire cache events after commit."""

from application.caching import CacheEvent
from domain.caching import CacheTtls, detail_key, detail_tags, list_key, list_tags
from domain.errors import NotFound
from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.ports import CachePort, ItemRepository

ITEMS = "items"


def _found(item: Item | None, item_id: int) -> Item:
    if item is None:
        raise NotFound(f"item {item_id} not found")
    return item


class ListItems:
    """One page of items in id order, and whether it came from the cache."""

    def __init__(self, items: ItemRepository, cache: CachePort, ttls: CacheTtls) -> None:
        self._items = items
        self._cache = cache
        self._ttl = ttls.list

    async def __call__(self, page: int, size: int) -> tuple[ItemPage, bool]:
        async def load() -> ItemPage:
            return await self._items.page(page, size)

        return await self._cache.get_or_load(list_key(ITEMS, page, size), load, self._ttl, list_tags(ITEMS))


class GetItem:
    """One item, or NotFound, and whether it came from the cache."""

    def __init__(self, items: ItemRepository, cache: CachePort, ttls: CacheTtls) -> None:
        self._items = items
        self._cache = cache
        self._ttl = ttls.detail

    async def __call__(self, item_id: int) -> tuple[Item, bool]:
        async def load() -> Item:
            return _found(await self._items.get(item_id), item_id)

        return await self._cache.get_or_load(detail_key(ITEMS, item_id), load, self._ttl, detail_tags(ITEMS))


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
            raise NotFound(f"item {item_id} not found")
        await self._events.on_delete(ITEMS, item_id)
