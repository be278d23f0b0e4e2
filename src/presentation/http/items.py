"""HTTP controller of the `items` resource."""

from typing import Annotated, Any

from dishka import FromDishka
from litestar import Controller, HttpMethod, Request, Response, delete, patch, post, put, route
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_404_NOT_FOUND

from application.items import ITEMS, CreateItem, DeleteItem, GetItem, ListItems, ReplaceItem, UpdateItem
from domain.caching import CacheTtls, detail_key, detail_tags, list_key, list_tags
from domain.errors import NotFound
from domain.items import Item, ItemPage, ItemPatch, NewItem
from presentation.http.di import inject
from presentation.http.errors import NOT_FOUND, error_response
from presentation.http.representation import (
    CACHING_HEADERS,
    NOT_MODIFIED,
    IfNoneMatch,
    cacheable,
    missing_item_headers,
)

# The ids the items table can hold: anything else is a client mistake, not a database error.
ItemId = Annotated[int, PathParameter(ge=1, le=2_147_483_647, description="item id")]
# GET and HEAD alike: HEAD answers the same status and headers without the body.
READS = [HttpMethod.GET, HttpMethod.HEAD]


class ItemController(Controller):
    """CRUD on items, with page-and-size listing."""

    path = "/items"
    tags = ["items"]  # noqa: RUF012 - Litestar declares it as a plain list

    @route("/", http_method=READS, responses=NOT_MODIFIED, response_headers=CACHING_HEADERS)
    @inject
    async def list_items(
        self,
        request: Request[Any, Any, Any],
        list_items: FromDishka[ListItems],
        ttls: FromDishka[CacheTtls],
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000_000, description="1-based page number")] = 1,
        size: Annotated[int, QueryParameter(ge=1, le=100, description="items per page, 1..100")] = 20,
        if_none_match: IfNoneMatch = None,
    ) -> Response[ItemPage]:
        """One page of items in id order, with the total; validators and caching headers as in the README."""
        page_json, hit = await list_items(page, size)
        key, tags = list_key(ITEMS, page, size), list_tags(ITEMS)
        return cacheable(request, page_json, hit=hit, key=key, tags=tags, ttl=ttls.list, if_none_match=if_none_match)

    @route(
        "/{item_id:int}", http_method=READS, responses={**NOT_FOUND, **NOT_MODIFIED}, response_headers=CACHING_HEADERS
    )
    @inject
    async def get_item(
        self,
        request: Request[Any, Any, Any],
        item_id: ItemId,
        get_item: FromDishka[GetItem],
        ttls: FromDishka[CacheTtls],
        if_none_match: IfNoneMatch = None,
    ) -> Response[Item]:
        """One item; validators and caching headers as in the README, on its 404 too."""
        try:
            item_json, hit = await get_item(item_id)
        except NotFound as error:
            missing = error_response(HTTP_404_NOT_FOUND, str(error))
            missing.headers.update(missing_item_headers(item_id, ttls.not_found))
            return missing  # type: ignore[return-value] # the documented 404
        key, tags = detail_key(ITEMS, item_id), detail_tags(ITEMS)
        return cacheable(request, item_json, hit=hit, key=key, tags=tags, ttl=ttls.detail, if_none_match=if_none_match)

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
