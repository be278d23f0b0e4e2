"""Cached item reads answered in front of Litestar's router, with exactly the routed response's status, headers and
body; everything else, misses included, goes on to the router."""

import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

import msgspec
from litestar.enums import ScopeType
from litestar.status_codes import HTTP_404_NOT_FOUND

from application.items import ITEMS, CachedItems
from domain.caching import CacheTtls, Representation, detail_key, detail_tags, list_key, list_tags
from domain.errors import NotFound
from presentation.http.errors import ErrorBody
from presentation.http.representation import caching_headers, missing_item_headers, none_match

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

# The routes' templates as the router names them: the profiler records an early answer under its route's row.
DETAIL_TEMPLATE, LIST_TEMPLATE = "/items/{item_id}", "/items"
_DETAIL_PATH = re.compile(r"/items/([1-9][0-9]{0,9})")
_PAGE_PARAMETER = re.compile(rb"(page|size)=([1-9][0-9]{0,9})")
# The bounds the routes validate; a request outside them goes to the router, which answers its 400.
_MAX_ID, _MAX_PAGE, _MAX_SIZE = 2_147_483_647, 1_000_000_000, 100
_DEFAULT_PAGE, _DEFAULT_SIZE = 1, 20
_JSON = (b"content-type", b"application/json")
_encode = msgspec.json.Encoder().encode


class _Read(NamedTuple):
    """A read this layer may answer: its route, cache key, tags and TTL, and the cache lookup."""

    template: str
    key: str
    tags: tuple[str, ...]
    ttl: float
    cached: Callable[[], Awaitable[Representation | None]]
    item_id: int = 0  # of a detail read


class CachedReads:
    """ASGI layer: a GET or HEAD of `/items/{id}` or `/items?page&size` whose JSON the cache holds is answered here.

    The routed handler costs parameter validation and Litestar's response machinery on every hit; here a hit costs
    a path match and a cache lookup. Only requests the router would send to those two handlers with the same
    parameters are answered: any other query string, a repeated `If-None-Match` or an out-of-range value goes on,
    and so does every miss (counted and loaded by the handler, as without this layer). An id remembered missing is
    answered with the route's 404.
    """

    def __init__(self, app: "ASGIApp") -> None:
        self._app = app
        self._items: CachedItems | None = None
        self._ttls = CacheTtls(detail=0, list=0)

    def start(self, items: CachedItems, ttls: CacheTtls) -> None:
        """Answer from `items`, with `ttls` in the headers; the app calls it at start-up, before any request."""
        self._items, self._ttls = items, ttls

    async def __call__(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        """Answer a cached read, or pass the request on."""
        if scope["type"] == ScopeType.HTTP and scope["method"] in ("GET", "HEAD") and self._items is not None:
            validators = [value for name, value in scope["headers"] if name == b"if-none-match"]
            read = None if len(validators) > 1 else self._read(scope, self._items)
            if read is not None:
                try:
                    representation = await read.cached()
                except NotFound as error:  # remembered missing: the 404 the route answers with
                    scope["path_template"] = read.template
                    headers = missing_item_headers(read.item_id, self._ttls.not_found)
                    await _not_found(scope["method"], send, str(error), headers)
                    return
                if representation is not None:
                    scope["path_template"] = read.template
                    if_none_match = validators[0].decode("latin-1") if validators else None
                    await _answer(scope["method"], send, read, representation, if_none_match)
                    return
        await self._app(scope, receive, send)

    def _read(self, scope: "HTTPScope", items: CachedItems) -> _Read | None:
        """The read a request asks for, when this layer may answer it; None otherwise."""
        path = scope["path"]
        if path == LIST_TEMPLATE:
            page_and_size = _page_and_size(scope["query_string"])
            if page_and_size is None:
                return None
            key = list_key(ITEMS, *page_and_size)
            return _Read(LIST_TEMPLATE, key, list_tags(ITEMS), self._ttls.list, partial(items.page, *page_and_size))
        match = _DETAIL_PATH.fullmatch(path)
        if match is None or scope["query_string"]:
            return None
        item_id = int(match.group(1))
        if item_id > _MAX_ID:
            return None
        key = detail_key(ITEMS, item_id)
        cached = partial(items.item, item_id)
        return _Read(DETAIL_TEMPLATE, key, detail_tags(ITEMS), self._ttls.detail, cached, item_id)


async def _answer(
    method: str, send: "Send", read: _Read, representation: Representation, if_none_match: str | None
) -> None:
    """Send the cached JSON as the routed handler would: 304 on a matching validator, headers alone for HEAD."""
    headers = [
        (name.lower().encode(), value.encode())
        for name, value in caching_headers(representation, hit=True, key=read.key, tags=read.tags, ttl=read.ttl).items()
    ]
    body = representation.body
    if none_match(if_none_match, representation.etag):
        status, body = 304, b""
    else:
        status = 200
        length = (b"content-length", b"%d" % len(body))
        if method == "HEAD":
            headers += (length, _JSON)  # the order the routed handler sends them in
            body = b""
        else:
            headers += (_JSON, length)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _not_found(method: str, send: "Send", detail: str, missing_headers: dict[str, str]) -> None:
    """Send the route's 404 of a missing item: its JSON error body, or its headers alone for HEAD."""
    body = _encode(ErrorBody(HTTP_404_NOT_FOUND, detail))
    headers = [*_encoded(missing_headers), _JSON, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": HTTP_404_NOT_FOUND, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body, "more_body": False})


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


def _page_and_size(query: bytes) -> tuple[int, int] | None:
    """`page` and `size` of a query string made of those two alone, each at most once and in range, or None."""
    values = {b"page": _DEFAULT_PAGE, b"size": _DEFAULT_SIZE}
    seen: set[bytes] = set()
    for parameter in query.split(b"&") if query else ():
        match = _PAGE_PARAMETER.fullmatch(parameter)
        if match is None or match.group(1) in seen:
            return None
        seen.add(match.group(1))
        values[match.group(1)] = int(match.group(2))
    page, size = values[b"page"], values[b"size"]
    return (page, size) if page <= _MAX_PAGE and size <= _MAX_SIZE else None
