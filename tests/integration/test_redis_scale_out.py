"""Several app instances on one Redis: L1 stays coherent across processes, and the app outlives its Redis."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from domain.ports import Clock
from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import FakeClock, Override
from tests.servers import free_port, start_uvicorn, stop, wait_healthy
from tests.services import REDIS_URL, PrivateRedis, eventually, fresh_redis_prefix, private_redis, until

pytestmark = [pytest.mark.redis, pytest.mark.server]


@pytest.fixture
def prefix() -> Iterator[str]:
    with fresh_redis_prefix("scale") as prefix:
        yield prefix


async def test_a_write_on_one_instance_reaches_the_l1_of_another(tmp_path: Path, prefix: str) -> None:
    env = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "PERFSHOP_DEMO_ITEMS": "0",
        "PERFSHOP_DEMO_ORDERS": "0",
        "PERFSHOP_REDIS_URL": REDIS_URL,
        "PERFSHOP_REDIS_PREFIX": prefix,
        "PERFSHOP_REDIS_TIMEOUT_MS": "2000",
        # L1 entries would outlive the test: only an invalidation message can make B drop its copy.
        "PERFSHOP_CACHE_L1_TTL": "600",
    }
    ports = free_port(), free_port()
    servers = [start_uvicorn(port, env) for port in ports]
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_healthy(port, server)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as a,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}") as b,
        ):
            item = (await a.post("/items", json={"name": "old", "price": 1})).json()
            first, second = await b.get(f"/items/{item['id']}"), await b.get(f"/items/{item['id']}")
            assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
            assert (await b.get("/cache/stats")).json()["keys"] == 1  # B holds the item in its L1

            assert (await a.patch(f"/items/{item['id']}", json={"name": "new"})).status_code == 200
            written = time.monotonic()
            seen = await eventually(lambda: b.get(f"/items/{item['id']}"), lambda r: r.json()["name"] == "new")
            assert seen.status_code == 200
            assert time.monotonic() - written < 600  # well before the L1 entry would have expired
            assert (await b.get(f"/items/{item['id']}")).headers["x-cache"] == "HIT"
    finally:
        for server in servers:
            stop(server)


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock: the breaker's cool-down and the cache's upkeep wait until the test moves it."""
    return FakeClock()


@pytest.fixture
async def app_on_private_redis(
    tmp_path: Path, prefix: str, clock: FakeClock
) -> AsyncIterator[tuple[AsyncTestClient, PrivateRedis]]:  # type: ignore[type-arg]
    with private_redis(free_port()) as server:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'perfshop.db'}",
            demo_items=0,
            demo_orders=0,
            redis_url=server.url,
            redis_prefix=prefix,
        )
        async with AsyncTestClient(app=create_app(Override(Clock, clock), settings=settings)) as client:
            yield client, server


async def backend_errors(client: AsyncTestClient) -> int:  # type: ignore[type-arg]
    """How many Redis calls of this instance have failed."""
    return int((await client.get("/cache/stats")).json()["backend_errors"])


async def test_requests_are_served_from_the_database_while_redis_is_down_and_cached_again_after(
    app_on_private_redis: tuple[AsyncTestClient, PrivateRedis],  # type: ignore[type-arg]
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, server = app_on_private_redis
    item = (await client.post("/items", json={"name": "lamp", "price": 2})).json()
    path = f"/items/{item['id']}"
    assert (await client.get(path)).headers["x-cache"] == "MISS"
    assert (await client.get(path)).headers["x-cache"] == "HIT"

    outcomes: list[tuple[int, int, str]] = []
    stop_load = asyncio.Event()

    async def load(worker: int) -> None:
        while not stop_load.is_set():
            response = await client.get(path)
            outcomes.append((worker, response.status_code, response.headers["x-cache"]))
            await asyncio.sleep(0)  # an L1 hit never suspends: let the test's own steps run

    def each_worker_answered_since(first: int) -> bool:
        return {worker for worker, _, _ in outcomes[first:]} == {0, 1, 2, 3}

    caplog.set_level(logging.WARNING, logger="perfshop.cache")
    workers = [asyncio.create_task(load(worker)) for worker in range(4)]
    try:
        await until(lambda: each_worker_answered_since(0))
        server.stop()
        await eventually(lambda: backend_errors(client), lambda errors: errors > 0)
        down = len(outcomes)
        # Each worker's request in flight when Redis went has been answered, and with it every failed call.
        await until(lambda: each_worker_answered_since(down))
        failed = await backend_errors(client)
        await until(lambda: len(outcomes) >= down + 48)
        # The breaker is open until its cool-down passes on the clock: no request tries the dead server meanwhile.
        assert await backend_errors(client) == failed
        during = outcomes[down:]
        server.start()
        clock.advance(60)  # past the cool-down: the next call probes Redis, and the L1 subscribes again
        await eventually(lambda: client.get(path), lambda r: r.headers["x-cache"] == "HIT", within=60)
    finally:
        stop_load.set()
        await asyncio.gather(*workers)

    assert {status for _, status, _ in outcomes} == {200}
    assert {cache for _, _, cache in during} == {"MISS"}
    warnings = [r for r in caplog.records if "redis cache unavailable" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited: not one per failed call


async def test_cluster_statistics_come_from_redis_and_a_bad_scope_is_refused(
    app_on_private_redis: tuple[AsyncTestClient, PrivateRedis],  # type: ignore[type-arg]
) -> None:
    client, _ = app_on_private_redis
    item = (await client.post("/items", json={"name": "lamp", "price": 2})).json()
    await client.get(f"/items/{item['id']}")
    cluster = (await client.get("/cache/stats", params={"scope": "cluster"})).json()
    assert (cluster["misses"], cluster["keys"], cluster["tags"]) == (1, 1, 2)
    refused = await client.get("/cache/stats", params={"scope": "galaxy"})
    assert refused.status_code == 400
    assert "scope" in refused.text


async def test_a_frozen_redis_costs_one_request_a_timeout_and_the_others_nothing(
    app_on_private_redis: tuple[AsyncTestClient, PrivateRedis],  # type: ignore[type-arg]
    clock: FakeClock,
) -> None:
    client, server = app_on_private_redis
    item = (await client.post("/items", json={"name": "lamp", "price": 2})).json()
    path = f"/items/{item['id']}"
    await client.get(path)
    server.pause()  # slow rather than down: connections stay open and nothing answers
    try:
        # A frozen server never answers: without the timeout the first request would hang here for good.
        async with asyncio.timeout(60):
            for _ in range(20):
                assert (await client.get(path)).status_code == 200
        # The first request's call timed out and opened the breaker; until the cool-down passes on the clock the
        # other requests go straight to the database.
        assert await backend_errors(client) == 1
    finally:
        server.resume()
    clock.advance(60)
    await eventually(lambda: client.get(path), lambda r: r.headers["x-cache"] == "HIT", within=60)
