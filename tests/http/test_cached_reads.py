"""The HTTP cache layer on both cache adapters: hits answered before the router exactly as routed, freshness after
writes (a GET racing a PATCH, GETs racing a create), negative caching, and coherence across two Redis instances."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import ParkingRepositoryProvider
from tests.services import REDIS_URL, eventually, fresh_redis_prefix

# Headers that differ between two answers of the same content whoever gives them.
PER_RESPONSE = {"x-response-time", "server-timing", "date", "x-cache"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """An app's settings on its own SQLite file, with the in-process cache or Redis (with its L1)."""
    base = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'perfshop.db'}", demo_items=0, demo_orders=0)
    if request.param == "memory":
        yield base
        return
    with fresh_redis_prefix("reads") as prefix:
        yield msgspec.structs.replace(base, redis_url=REDIS_URL, redis_prefix=prefix, redis_timeout_ms=2000)


@asynccontextmanager
async def serving(settings: Settings, *overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app started, served on this test's event loop (so that a test can hold a request mid-flight)."""
    app = create_app(*overrides, settings=settings)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        yield client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncTestClient(app=create_app(settings=settings)) as test_client:
        yield test_client


async def create(client: httpx.AsyncClient, name: str = "Desk") -> dict[str, Any]:
    response = await client.post("/items", json={"name": name, "price": 10})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def content_headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name not in PER_RESPONSE}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("validator", [None, "matching"])
@pytest.mark.parametrize("path", ["/items/{id}", "/items?page=1&size=5"], ids=["detail", "page"])
async def test_a_hit_answered_before_the_router_is_the_routed_answer(
    client: httpx.AsyncClient, method: str, validator: str | None, path: str
) -> None:
    item = await create(client)
    early_path = path.format(id=item["id"])
    routed_path = early_path + ("&" if "?" in early_path else "?") + "unknown=1"  # a query the early layer leaves
    miss = await client.get(early_path)
    headers = {"If-None-Match": miss.headers["etag"]} if validator else {}

    early = await client.request(method, early_path, headers=headers)
    routed = await client.request(method, routed_path, headers=headers)

    assert (early.headers["x-cache"], routed.headers["x-cache"]) == ("HIT", "HIT")
    assert early.status_code == routed.status_code == (304 if validator else 200)
    assert early.content == routed.content == (miss.content if method == "GET" and not validator else b"")
    assert list(content_headers(early).items()) == list(content_headers(routed).items())
    assert early.headers["x-content-type-options"] == "nosniff"
    assert early.headers["x-response-time"].endswith("ms")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_an_id_remembered_missing_is_answered_before_the_router_as_routed(
    client: httpx.AsyncClient, settings: Settings, method: str
) -> None:
    first = await client.get("/items/7")
    early = await client.request(method, "/items/7")
    routed = await client.request(method, "/items/7?unknown=1")

    assert first.status_code == early.status_code == routed.status_code == 404
    assert early.content == routed.content == (first.content if method == "GET" else b"")
    assert list(content_headers(early).items()) == list(content_headers(routed).items())
    assert early.headers["x-content-type-options"] == "nosniff"
    assert (first.headers["surrogate-key"], first.headers["surrogate-control"]) == (
        "items items:detail items:missing items:7",
        f"max-age={int(settings.cache_not_found_ttl)}",
    )
    assert first.headers["cache-control"] == "no-cache"
    stats = (await client.get("/cache/stats")).json()
    assert (stats["loads"], stats["negative_hits"]) == (1, 2)
    assert (await client.get("/metrics")).json()["endpoints"][f"{method} /items/{{item_id}}"]["status"]["4xx"] >= 2


async def test_early_hits_are_recorded_under_their_route(client: httpx.AsyncClient) -> None:
    item = await create(client)
    for _ in range(3):
        await client.get(f"/items/{item['id']}")
    await client.head(f"/items/{item['id']}")
    for _ in range(2):
        await client.get("/items?size=5")

    endpoints = (await client.get("/metrics")).json()["endpoints"]
    assert endpoints["GET /items/{item_id}"]["count"] == 3
    assert endpoints["HEAD /items/{item_id}"]["count"] == 1
    assert endpoints["GET /items"]["count"] == 2
    stats = (await client.get("/cache/stats")).json()
    assert (stats["hits"], stats["misses"]) == (4, 2)  # each hit and miss counted once, whoever answered


@pytest.mark.parametrize(
    "query", ["size=5&size=500", "size=5&page=0", "size=5&page=x", "size=5&page=1000000001"], ids=str
)
async def test_a_query_the_route_refuses_is_refused_even_when_its_page_is_cached(
    client: httpx.AsyncClient, query: str
) -> None:
    await create(client)
    assert (await client.get("/items?size=5")).status_code == 200
    assert (await client.get("/items?size=5")).headers["x-cache"] == "HIT"

    response = await client.get(f"/items?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["extra"]


async def test_an_out_of_range_id_is_refused_by_the_route(client: httpx.AsyncClient) -> None:
    for path in ("/items/0", "/items/2147483648", "/items/99999999999"):
        assert (await client.get(path)).status_code == 400


async def test_a_missing_id_is_read_once_until_a_create(client: httpx.AsyncClient) -> None:
    first, again = await client.get("/items/7"), await client.get("/items/7")
    assert first.status_code == again.status_code == 404
    assert first.content == again.content
    stats = (await client.get("/cache/stats")).json()
    assert (stats["loads"], stats["hits"], stats["negative_hits"]) == (1, 1, 1)

    await create(client)
    assert (await client.get("/items/7")).status_code == 404
    assert (await client.get("/cache/stats")).json()["loads"] == 2  # the create dropped the absence: 7 is read again


async def test_a_not_found_ttl_of_0_remembers_no_missing_id(settings: Settings) -> None:
    async with serving(msgspec.structs.replace(settings, cache_not_found_ttl=0)) as client:
        for _ in range(3):
            assert (await client.get("/items/7")).status_code == 404
        stats = (await client.get("/cache/stats")).json()
        assert (stats["loads"], stats["negative_hits"]) == (3, 0)


@pytest.mark.parametrize("cached_before", [False, True], ids=["load in flight", "copy cached before"])
async def test_after_a_patch_is_acknowledged_no_read_gets_the_old_body_or_a_304_for_its_etag(
    settings: Settings, cached_before: bool
) -> None:
    parking = ParkingRepositoryProvider()
    async with serving(settings, parking) as client:
        item = await create(client)
        path = f"/items/{item['id']}"
        assert parking.repository is not None
        if cached_before:
            await client.get(path)
            assert (await client.get(path)).headers["x-cache"] == "HIT"
            await client.delete("/cache/keys/x")  # refused (no admin token): nothing is dropped behind the test
        else:
            # A GET that misses reads the row and is held there while a PATCH commits and is acknowledged.
            parking.repository.park()
        reader = asyncio.create_task(client.get(path))
        if not cached_before:
            await parking.repository.parked.wait()
        patched = await client.patch(path, json={"name": "Chair"})
        assert patched.status_code == 200
        parking.repository.release.set()
        old = await reader
        assert old.json()["name"] == "Desk"  # asked before the write was acknowledged: the old row is its answer

        for method in ("GET", "HEAD", "GET"):
            fresh = await client.request(method, path, headers={"If-None-Match": old.headers["etag"]})
            assert fresh.status_code == 200
            assert fresh.headers["etag"] != old.headers["etag"]
        after = await client.get(path)
        assert after.json() == patched.json()
        assert (after.headers["x-cache"], after.headers["etag"]) == ("HIT", fresh.headers["etag"])


async def test_a_get_of_the_next_id_held_across_its_create_leaves_no_404_behind(settings: Settings) -> None:
    parking = ParkingRepositoryProvider()
    async with serving(settings, parking) as client:
        next_id = (await create(client))["id"] + 1
        assert parking.repository is not None
        parking.repository.park()
        reader = asyncio.create_task(client.get(f"/items/{next_id}"))
        await parking.repository.parked.wait()  # it has read: no such row
        created = await create(client, name="Lamp")
        assert created["id"] == next_id
        parking.repository.release.set()
        assert (await reader).status_code == 404  # asked before the create was acknowledged

        after = await client.get(f"/items/{next_id}")
        assert (after.status_code, after.json()) == (200, created)


async def test_gets_of_the_next_id_racing_its_create_see_it_once_the_create_is_acknowledged(
    settings: Settings,
) -> None:
    async with serving(settings) as client:
        for _ in range(5):
            next_id = (await create(client))["id"] + 1
            created = asyncio.Event()

            async def keep_reading(item_id: int = next_id, done: asyncio.Event = created) -> list[int]:
                statuses = []
                while not done.is_set():
                    statuses.append((await client.get(f"/items/{item_id}")).status_code)
                    await asyncio.sleep(0)  # a cached answer never suspends in-process: let the create run
                return statuses

            readers = [asyncio.create_task(keep_reading()) for _ in range(8)]
            before = (await client.get("/cache/stats")).json()["negative_hits"]
            # The create starts once the readers are answered from the remembered absence of its id.
            await eventually(
                lambda: client.get("/cache/stats"), lambda stats, seen=before: stats.json()["negative_hits"] > seen
            )
            new = await create(client, name="Lamp")
            assert new["id"] == next_id
            after = [await client.get(f"/items/{next_id}") for _ in range(3)]
            created.set()
            seen = [status for statuses in await asyncio.gather(*readers) for status in statuses]
            assert [response.status_code for response in after] == [200, 200, 200]
            assert 404 in seen
            assert set(seen) <= {200, 404}


@pytest.mark.redis
async def test_two_instances_on_one_redis_drop_a_changed_copy_and_a_created_ids_absence(tmp_path: Path) -> None:
    with fresh_redis_prefix("reads-two") as prefix:
        shared = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
            demo_items=0,
            demo_orders=0,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            redis_timeout_ms=2000,
            cache_l1_ttl=600,  # longer than the test: only the invalidation message can drop A's copies
            cache_not_found_ttl=600,
        )
        async with serving(shared) as a, serving(shared) as b:
            item = await create(a)
            path, next_path = f"/items/{item['id']}", f"/items/{item['id'] + 1}"
            old = await a.get(path)
            assert (await a.get(path)).headers["x-cache"] == "HIT"  # from A's L1, before A's router
            assert (await a.get(next_path)).status_code == (await a.get(next_path)).status_code == 404
            assert (await a.get("/cache/stats")).json()["negative_hits"] == 1

            patched = (await b.patch(path, json={"name": "Chair"})).json()
            created = await create(b, name="Lamp")
            assert created["id"] == item["id"] + 1

            fresh = await eventually(
                lambda: a.get(path, headers={"If-None-Match": old.headers["etag"]}), lambda r: r.status_code == 200
            )
            assert (fresh.json(), fresh.headers["etag"] != old.headers["etag"]) == (patched, True)
            found = await eventually(lambda: a.get(next_path), lambda r: r.status_code != 404)
            assert (found.status_code, found.json()) == (200, created)
