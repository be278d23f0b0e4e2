"""Validators and caching headers of the cacheable GETs: ETag, If-None-Match and 304, HEAD, and the CDN headers."""

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from presentation.settings import Settings

Client = AsyncTestClient  # type: ignore[type-arg]


async def create(client: Client, name: str = "Desk") -> dict[str, Any]:
    response = await client.post("/items", json={"name": name, "price": 199.99, "stock": 3})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_an_item_carries_a_strong_etag_of_its_bytes_and_the_caching_headers(
    client: Client, settings: Settings
) -> None:
    item = await create(client)
    miss = await client.get(f"/items/{item['id']}")
    hit = await client.get(f"/items/{item['id']}")

    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    assert miss.headers["etag"] == hit.headers["etag"]
    assert miss.headers["etag"].startswith('"')  # strong: no W/
    assert miss.content == hit.content
    assert hit.json() == item
    assert hit.headers["cache-control"] == "no-cache"
    assert hit.headers["surrogate-control"] == f"max-age={int(settings.cache_item_ttl)}"
    assert hit.headers["surrogate-key"] == f"items items:detail items:{item['id']}"
    other = await client.get(f"/items/{(await create(client, name='Lamp'))['id']}")
    assert other.headers["etag"] != hit.headers["etag"]


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"not-it", {etag}', '"a,b" ,  W/{etag} , "c"', "*"],
    ids=["exact", "weak", "in a list", "list with a comma inside a tag", "star"],
)
async def test_a_matching_if_none_match_answers_304_without_a_body(client: Client, if_none_match: str) -> None:
    item = await create(client)
    first = await client.get(f"/items/{item['id']}")
    etag = first.headers["etag"]

    response = await client.get(f"/items/{item['id']}", headers={"If-None-Match": if_none_match.format(etag=etag)})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("if_none_match", ['"something-else"', 'W/"something-else", "x"', "not a tag", ""])
async def test_an_if_none_match_that_names_another_copy_gets_the_body(client: Client, if_none_match: str) -> None:
    item = await create(client)
    response = await client.get(f"/items/{item['id']}", headers={"If-None-Match": if_none_match})
    assert response.status_code == 200
    assert response.json() == item


async def test_after_an_acknowledged_change_the_old_etag_no_longer_matches(client: Client) -> None:
    item = await create(client)
    old = await client.get(f"/items/{item['id']}")
    assert (await client.patch(f"/items/{item['id']}", json={"stock": 9})).status_code == 200

    response = await client.get(f"/items/{item['id']}", headers={"If-None-Match": old.headers["etag"]})

    assert response.status_code == 200
    assert response.json()["stock"] == 9
    assert response.headers["etag"] != old.headers["etag"]


async def test_head_answers_the_get_headers_without_the_body(client: Client) -> None:
    item = await create(client)
    get = await client.get(f"/items/{item['id']}")
    head = await client.head(f"/items/{item['id']}")
    revalidated = await client.head(f"/items/{item['id']}", headers={"If-None-Match": get.headers["etag"]})
    missing = await client.head("/items/999999")

    assert head.status_code == 200
    assert head.content == b""
    for name in ("etag", "content-type", "cache-control", "surrogate-control", "surrogate-key", "content-length"):
        assert head.headers[name] == get.headers[name], name
    assert revalidated.status_code == 304
    assert missing.status_code == 404


async def test_a_page_of_items_has_its_own_validators_and_tags(client: Client, settings: Settings) -> None:
    await create(client)
    page = await client.get("/items", params={"page": 1, "size": 5})
    same = await client.get("/items", params={"page": 1, "size": 5}, headers={"If-None-Match": page.headers["etag"]})
    head = await client.head("/items", params={"page": 1, "size": 5})
    await create(client, name="Lamp")
    changed = await client.get("/items", params={"page": 1, "size": 5}, headers={"If-None-Match": page.headers["etag"]})

    assert page.headers["surrogate-key"] == "items items:list items:list:1:5"
    assert page.headers["surrogate-control"] == f"max-age={int(settings.cache_list_ttl)}"
    assert same.status_code == 304
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", page.headers["etag"])
    assert changed.status_code == 200
    assert changed.json()["total"] == 2


async def test_the_schema_documents_the_304_and_the_caching_headers(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    detail = schema["paths"]["/items/{item_id}"]["get"]
    assert "304" in detail["responses"]
    assert {"ETag", "Cache-Control", "Surrogate-Control", "Surrogate-Key"} <= set(detail["responses"]["200"]["headers"])
    parameters = {parameter["name"] for parameter in detail["parameters"]}
    assert "If-None-Match" in parameters
