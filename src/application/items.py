"""Use cases of the `items` resource."""

from domain.errors import NotFound
from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.ports import ItemRepository


def _found(item: Item | None, item_id: int) -> Item:
    if item is None:
        raise NotFound(f"item {item_id} not found")
    return item


class ListItems:
    """One page of items in id order."""

    def __init__(self, items: ItemRepository) -> None:
        self._items = items

    async def __call__(self, page: int, size: int) -> ItemPage:
        return await self._items.page(page, size)


class GetItem:
    """One item, or NotFound."""

    def __init__(self, items: ItemRepository) -> None:
        self._items = items

    async def __call__(self, item_id: int) -> Item:
        return _found(await self._items.get(item_id), item_id)


class CreateItem:
    """Store a new item and return it with its id and timestamps."""

    def __init__(self, items: ItemRepository) -> None:
        self._items = items

    async def __call__(self, new: NewItem) -> Item:
        return await self._items.add(new)


class ReplaceItem:
    """Replace every client-owned field of an item, or NotFound."""

    def __init__(self, items: ItemRepository) -> None:
        self._items = items

    async def __call__(self, item_id: int, new: NewItem) -> Item:
        return _found(await self._items.replace(item_id, new), item_id)


class UpdateItem:
    """Change only the fields a patch carries, or NotFound."""

    def __init__(self, items: ItemRepository) -> None:
        self._items = items

    async def __call__(self, item_id: int, patch: ItemPatch) -> Item:
        return _found(await self._items.update(item_id, patch), item_id)


class DeleteItem:
    """Remove an item, or NotFound."""

    def __init__(self, items: ItemRepository) -> None:
        self._items = items

    async def __call__(self, item_id: int) -> None:
        if not await self._items.delete(item_id):
            raise NotFound(f"item {item_id} not found")
