"""The cache through HTTP: X-Cache, invalidation after writes, the stale-write race, stats and admin auth."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import ParkingRepositoryProvider

Client = AsyncTestClient  # type: ignore[type-arg]
TOKEN = "s3cret-admin-token-for-tests"
VALID = {"name": "Desk", "price": 10}


async def create(client: Client | httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/items", json=VALID)
    assert response.status_code == 201
    return response.json()  # type: ignore[no-any-return]


async def test_a_second_read_is_a_hit_and_a_write_makes_it_miss_again(client: Client) -> None:
    item = await create(client)
    path = f"/items/{item['id']}"
    assert [(await client.get(path)).headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    assert [(await client.get("/items")).headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]

    patched = (await client.patch(path, json={"price": 12})).json()
    fresh = await client.get(path)
    assert (fresh.headers["X-Cache"], fresh.json()) == ("MISS", patched)
    listed = await client.get("/items")
    assert (listed.headers["X-Cache"], listed.json()["items"]) == ("MISS", [patched])


async def test_create_and_delete_invalidate_the_lists(client: Client) -> None:
    first = await create(client)
    await client.get("/items")
    await create(client)
    after_create = await client.get("/items")
    assert (after_create.headers["X-Cache"], after_create.json()["total"]) == ("MISS", 2)
    assert (await client.delete(f"/items/{first['id']}")).status_code == 204
    after_delete = await client.get("/items")
    assert (after_delete.headers["X-Cache"], after_delete.json()["total"]) == ("MISS", 1)
    assert (await client.get(f"/items/{first['id']}")).status_code == 404


async def test_a_read_in_flight_across_a_patch_never_leaves_the_old_item_cached(settings: Settings) -> None:
    overrides = ParkingRepositoryProvider()
    app = create_app(overrides, settings=settings)
    # httpx's ASGI transport serves the requests on this test's event loop, so the events below can hold them;
    # the app's lifespan runs on the same loop, so that pooled connections belong to it.
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
    ):
        item = await create(client)
        path = f"/items/{item['id']}"
        assert overrides.repository is not None
        overrides.repository.park()
        reader = asyncio.create_task(client.get(path))
        await overrides.repository.parked.wait()  # the GET has read the old row

        patched = (await client.patch(path, json={"name": "Chair"})).json()
        overrides.repository.release.set()
        assert (await reader).json()["name"] == "Desk"

        after = await client.get(path)
        assert (after.headers["X-Cache"], after.json()) == ("MISS", patched)
        assert (await client.get("/cache/stats")).json()["stale_writes_rejected"] == 1


async def test_stats_report_the_counters(client: Client) -> None:
    item = await create(client)
    for _ in range(3):
        await client.get(f"/items/{item['id']}")
    stats = (await client.get("/cache/stats")).json()
    assert (stats["hits"], stats["misses"], stats["hit_rate"], stats["keys"]) == (2, 1, 66.7, 1)
    assert {"avg_hit_ms", "avg_miss_ms", "evictions", "coalesced", "invalidations"} <= set(stats)


@pytest.fixture
async def admin_client(settings: Settings) -> AsyncIterator[Client]:
    """The app with an admin token configured."""
    with_token = msgspec.structs.replace(settings, admin_token=TOKEN)
    async with AsyncTestClient(app=create_app(settings=with_token)) as test_client:
        yield test_client


async def test_the_admin_drops_a_tag_or_a_key(admin_client: Client) -> None:
    item = await create(admin_client)
    await admin_client.get(f"/items/{item['id']}")
    await admin_client.get("/items")
    auth = {"Authorization": f"Bearer {TOKEN}"}

    dropped = await admin_client.delete("/cache/tags/items:list", headers=auth)
    assert (dropped.status_code, dropped.json()) == (200, {"removed": 1})
    assert (await admin_client.get(f"/items/{item['id']}")).headers["X-Cache"] == "HIT"
    dropped = await admin_client.delete(f"/cache/keys/items:{item['id']}", headers=auth)
    assert dropped.json() == {"removed": 1}
    assert (await admin_client.get(f"/items/{item['id']}")).headers["X-Cache"] == "MISS"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-of-some-length", f"Basic {TOKEN}", TOKEN])
async def test_a_missing_or_wrong_token_is_401_with_a_bearer_challenge(
    admin_client: Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for path in ("/cache/tags/items", "/cache/keys/items:1"):
        response = await admin_client.delete(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert set(response.json()) == {"status_code", "detail", "extra"}


async def test_admin_operations_are_403_while_no_token_is_configured(client: Client) -> None:
    response = await client.delete("/cache/tags/items", headers={"Authorization": "Bearer anything-at-all"})
    assert response.status_code == 403
    assert "PERFSHOP_ADMIN_TOKEN" in response.json()["detail"]
