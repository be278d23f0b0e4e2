"""The items API end to end through the real app and a real SQLite file."""

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

Client = AsyncTestClient  # type: ignore[type-arg]

VALID = {"name": "Desk", "description": "oak", "price": 199.99, "stock": 3}


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    response = await client.post("/items", json={**VALID, **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def bad_fields(response: Any) -> list[str]:
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"}
    assert body["status_code"] == response.status_code
    return [entry["key"] for entry in body["extra"]]


async def test_create_then_get_returns_the_stored_item(client: Client) -> None:
    created = await create(client)
    assert created["id"] >= 1
    assert {k: created[k] for k in VALID} == VALID
    assert created["created_at"].endswith("Z")
    assert created["created_at"] == created["updated_at"]

    fetched = await client.get(f"/items/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_list_returns_the_page_envelope_in_id_order(client: Client) -> None:
    ids = [(await create(client, name=f"item {i}"))["id"] for i in range(5)]

    first = (await client.get("/items", params={"page": 1, "size": 2})).json()
    last = (await client.get("/items", params={"page": 3, "size": 2})).json()
    beyond = (await client.get("/items", params={"page": 4, "size": 2})).json()

    assert [item["id"] for item in first["items"]] == ids[:2]
    assert (first["page"], first["size"], first["total"]) == (1, 2, 5)
    assert [item["id"] for item in last["items"]] == ids[4:]
    assert beyond == {"items": [], "page": 4, "size": 2, "total": 5}


async def test_list_defaults_to_page_one_of_twenty(client: Client) -> None:
    body = (await client.get("/items")).json()
    assert (body["page"], body["size"], body["total"]) == (1, 20, 0)


async def test_put_replaces_every_field_and_patch_only_those_sent(client: Client) -> None:
    item = await create(client, description="keep me?", stock=7)

    patched = (await client.patch(f"/items/{item['id']}", json={"price": 10.5})).json()
    assert (patched["price"], patched["description"], patched["stock"]) == (10.5, "keep me?", 7)
    assert patched["updated_at"] >= item["updated_at"]
    assert patched["created_at"] == item["created_at"]

    replaced = (await client.put(f"/items/{item['id']}", json={"name": "Chair", "price": 20})).json()
    assert (replaced["name"], replaced["price"]) == ("Chair", 20)
    assert (replaced["description"], replaced["stock"]) == ("", 0)  # omitted fields take their defaults


async def test_delete_removes_the_item(client: Client) -> None:
    item = await create(client)
    assert (await client.delete(f"/items/{item['id']}")).status_code == 204
    assert (await client.get(f"/items/{item['id']}")).status_code == 404
    assert (await client.delete(f"/items/{item['id']}")).status_code == 404


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
async def test_a_missing_item_is_404_in_the_error_shape(client: Client, method: str) -> None:
    kwargs = {"json": VALID} if method in {"put", "patch"} else {}
    response = await getattr(client, method)("/items/424242", **kwargs)
    assert response.status_code == 404
    assert response.json()["detail"] == "item 424242 not found"
    assert bad_fields(response) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**VALID, "name": ""}, "name"),
        ({**VALID, "name": "   "}, "name"),
        ({**VALID, "name": "x" * 201}, "name"),
        ({**VALID, "price": -0.01}, "price"),
        ({**VALID, "price": 1.234}, "price"),
        ({**VALID, "price": "twelve"}, "price"),
        ({**VALID, "stock": -1}, "stock"),
        ({**VALID, "stock": 1.5}, "stock"),
        ({**VALID, "name": None}, "name"),
        ({"price": 1}, "name"),
        ({**VALID, "colour": "red"}, "colour"),
    ],
)
async def test_bad_fields_are_400_naming_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    for response in (
        await client.post("/items", json=body),
        await client.put("/items/1", json=body),
    ):
        assert response.status_code == 400
        assert bad_fields(response) == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": ""}, "name"), ({"price": 0.001}, "price"), ({"stock": "many"}, "stock"), ({"id": 3}, "id")],
)
async def test_bad_patches_are_400_naming_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    item = await create(client)
    response = await client.patch(f"/items/{item['id']}", json=body)
    assert response.status_code == 400
    assert bad_fields(response) == [field]


@pytest.mark.parametrize("raw", [b'{"name": "x"', b"not json", b"[]", b"", b'"just a string"'])
async def test_malformed_bodies_are_400_in_the_error_shape(client: Client, raw: bytes) -> None:
    response = await client.post("/items", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert bad_fields(response)  # names the body or the field


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page": 0}, "page"), ({"size": 0}, "size"), ({"size": 101}, "size"), ({"page": "two"}, "page")],
)
async def test_bad_paging_is_400_naming_the_parameter(client: Client, params: dict[str, Any], field: str) -> None:
    response = await client.get("/items", params=params)
    assert response.status_code == 400
    assert bad_fields(response) == [field]


async def test_a_non_numeric_id_matches_no_route(client: Client) -> None:
    response = await client.get("/items/abc")
    assert response.status_code == 404
    assert bad_fields(response) == []


@pytest.mark.parametrize("item_id", ["0", "-5", "2147483648", "99999999999999999999999"])
async def test_an_id_outside_the_stored_range_is_400_naming_it(client: Client, item_id: str) -> None:
    for method in ("get", "delete"):
        response = await getattr(client, method)(f"/items/{item_id}")
        assert response.status_code == 400
        assert bad_fields(response) == ["item_id"]
