"""Cacheable GET responses: the cached JSON and its strong ETag, `If-None-Match` answered with 304, and the
headers that tell clients to revalidate and a CDN how long it may keep the response and how to purge it."""

import re
from collections.abc import Sequence
from typing import Annotated, Any

from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from application.items import ITEMS
from domain.caching import Representation, detail_key, detail_tags, missing_tag
from presentation.http.cache import x_cache

IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        required=False,
        description="ETags of copies the client holds (or `*`): a match answers 304 without a body",
    ),
]

NOT_MODIFIED = {
    HTTP_304_NOT_MODIFIED: ResponseSpec(
        data_container=None,
        description="The copy the client holds (`If-None-Match`) is current; no body, the validators repeated",
        generate_examples=False,
    )
}
CACHING_HEADERS = [
    ResponseHeader(name="ETag", description="Strong validator derived from the body's bytes", documentation_only=True),
    ResponseHeader(
        name="Cache-Control", description="`no-cache`: revalidate before every reuse", documentation_only=True
    ),
    ResponseHeader(
        name="Surrogate-Control",
        description="`max-age=<seconds>`: how long a CDN may keep the response, the cache entry's TTL",
        documentation_only=True,
    ),
    ResponseHeader(
        name="Surrogate-Key",
        description="The response's cache tags and key, space-separated: purge a CDN by any of them",
        documentation_only=True,
    ),
    ResponseHeader(name="X-Cache", description="HIT when the body came from the cache", documentation_only=True),
]

_ENTITY_TAG = re.compile(r'(?:W/)?("[^"]*")')


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names `etag`: `*`, or a list of entity tags compared weakly (RFC 9110 §13.1.2)."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison: the opaque tags alone, with or without W/; a comma may sit inside a tag's quotes.
    return etag.removeprefix("W/") in _ENTITY_TAG.findall(if_none_match)


def caching_headers(
    representation: Representation, *, hit: bool, key: str, tags: Sequence[str], ttl: float
) -> dict[str, str]:
    """The validator and caching headers of a cacheable response, the same however it is answered."""
    return {**x_cache(hit), "ETag": representation.etag, **cdn_headers(key, tags, ttl)}


def cdn_headers(key: str, tags: Sequence[str], ttl: float) -> dict[str, str]:
    """Revalidate on every reuse; a CDN may keep the answer `ttl` seconds and purge it by any tag or the key."""
    return {
        "Cache-Control": "no-cache",
        "Surrogate-Control": f"max-age={int(ttl)}",
        "Surrogate-Key": " ".join((*tags, key)),
    }


def missing_item_headers(item_id: int, ttl: float) -> dict[str, str]:
    """The caching headers of the 404 for an item id that does not exist, kept `ttl` seconds (the absence's TTL)
    and purged by `items:missing` after a create like the app's own copy."""
    return cdn_headers(detail_key(ITEMS, item_id), (*detail_tags(ITEMS), missing_tag(ITEMS)), ttl)


def cacheable(
    request: Request[Any, Any, Any],
    representation: Representation,
    *,
    hit: bool,
    key: str,
    tags: Sequence[str],
    ttl: float,
    if_none_match: str | None,
) -> Response[Any]:
    """The cached JSON with its validators and caching headers; 304 without a body when the client's copy matches,
    and the headers alone for HEAD."""
    headers = caching_headers(representation, hit=hit, key=key, tags=tags, ttl=ttl)
    if none_match(if_none_match, representation.etag):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    body = representation.body
    if request.method == "HEAD":
        return Response(b"", headers={**headers, "Content-Length": str(len(body))})
    return Response(body, media_type="application/json", headers=headers)
