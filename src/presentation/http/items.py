"""HTTP controller of the `items` resource."""

from typing import Annotated

from dishka import FromDishka
from litestar import Controller, Response, delete, get, patch, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

from application.items import CreateItem, DeleteItem, GetItem, ListItems, ReplaceItem, UpdateItem
from domain.items import Item, ItemPage, ItemPatch, NewItem
from presentation.http.cache import x_cache
from presentation.http.di import inject
from presentation.http.errors import NOT_FOUND

# The ids the items table can hold: anything else is a client mistake, not a database error.
ItemId = Annotated[int, PathParameter(ge=1, le=2_147_483_647, description="item id")]


class ItemController(Controller):
    """CRUD on items, with page-and-size listing."""

    path = "/items"
    tags = ["items"]  # noqa: RUF012 - Litestar declares it as a plain list

    @get("/")
    @inject
    async def list_items(
        self,
        list_items: FromDishka[ListItems],
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000_000, description="1-based page number")] = 1,
        size: Annotated[int, QueryParameter(ge=1, le=100, description="items per page, 1..100")] = 20,
    ) -> Response[ItemPage]:
        """One page of items in id order, with the total; `X-Cache` says whether it was cached."""
        result, hit = await list_items(page, size)
        return Response(result, headers=x_cache(hit))

    @get("/{item_id:int}", responses=NOT_FOUND)
    @inject
    async def get_item(self, item_id: ItemId, get_item: FromDishka[GetItem]) -> Response[Item]:
        """One item; `X-Cache` says whether it was cached."""
        item, hit = await get_item(item_id)
        return Response(item, headers=x_cache(hit))

    @post("/")
    @inject
    async def create_item(self, data: JSONBody[NewItem], create_item: FromDishka[CreateItem]) -> Item:
        """Create an item; answers 201 with the stored item."""
        return await create_item(data)

    @put("/{item_id:int}", responses=NOT_FOUND)
    @inject
    async def replace_item(
        self, item_id: ItemId, data: JSONBody[NewItem], replace_item: FromDishka[ReplaceItem]
    ) -> Item:
        """Replace every field of an item; omitted optional fields take their defaults."""
        return await replace_item(item_id, data)

    @patch("/{item_id:int}", responses=NOT_FOUND)
    @inject
    async def update_item(
        self, item_id: ItemId, data: JSONBody[ItemPatch], update_item: FromDishka[UpdateItem]
    ) -> Item:
        """Change only the fields sent."""
        return await update_item(item_id, data)

    @delete("/{item_id:int}", responses=NOT_FOUND)
    @inject
    async def delete_item(self, item_id: ItemId, delete_item: FromDishka[DeleteItem]) -> None:
        """Delete an item; answers 204."""
        await delete_item(item_id)
