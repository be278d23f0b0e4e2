"""The deliberately slow endpoints are slow, do real work, and leave the event loop free for other requests."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.servers import live_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server with 3,000 demo orders."""
    database = tmp_path_factory.mktemp("slow") / "perfshop.db"
    env = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PERFSHOP_DEMO_ITEMS": "10",
        "PERFSHOP_DEMO_ORDERS": "3000",
    }
    with live_server(env) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[float, Any, float]:
    """Seconds taken, JSON body, and the monotonic time the response arrived."""
    started = time.perf_counter()
    response = await client.get(path)
    assert response.status_code == 200, response.text
    finished = time.perf_counter()
    return finished - started, response.json(), finished


async def trip(client: httpx.AsyncClient, path: str) -> tuple[float, float, httpx.Response]:
    """When the request was sent and its response arrived (monotonic seconds), and the response."""
    sent = time.monotonic()  # the server's clock too
    response = await client.get(path)
    return sent, time.monotonic(), response


@pytest.mark.parametrize(
    ("path", "target_s"),
    [("/slow/db-query", 0.2), ("/slow/serialization", 0.1), ("/slow/external-api", 0.5)],
)
async def test_a_slow_endpoint_is_slow_while_health_stays_fast(
    client: httpx.AsyncClient, path: str, target_s: float
) -> None:
    slow = asyncio.create_task(trip(client, path))
    healths = []
    while not slow.done():
        healths.append(await trip(client, "/health"))
    sent, done, response = await slow

    assert response.status_code == 200, response.text
    assert done - sent >= 0.5 * target_s
    assert all(health.json() == {"status": "ok", "database": "reachable"} for _, _, health in healths)
    # The server spent `server_s` of the round trip [sent, done] on the slow request, so it was busy with it for
    # certain from `done - server_s` to `sent + server_s`: some health check must have come and gone in between.
    server_s = float(response.headers["x-response-time"].removesuffix("ms")) / 1000
    assert any(
        done - server_s <= health_sent and health_done <= sent + server_s for health_sent, health_done, _ in healths
    )


async def test_the_db_query_aggregates_every_order(client: httpx.AsyncClient) -> None:
    _, body, _ = await timed_get(client, "/slow/db-query")
    totals = body["totals"]
    assert sum(row["orders"] for row in totals) == 3_000
    assert {row["status"] for row in totals} <= {"pending", "paid", "shipped", "delivered", "cancelled", "refunded"}


async def test_serialization_encodes_rows_until_its_budget_ends(client: httpx.AsyncClient) -> None:
    _, body, _ = await timed_get(client, "/slow/serialization")
    assert set(body) == {"rows", "bytes", "serialize_ms"}
    assert body["rows"] > 0
    assert body["bytes"] > body["rows"] * 100  # each row is a JSON object of about 160 bytes
    assert body["serialize_ms"] > 0


async def test_the_metrics_rank_the_slow_endpoints_by_their_average(client: httpx.AsyncClient) -> None:
    for path in ("/slow/db-query", "/slow/external-api"):
        await timed_get(client, path)
    _, report, _ = await timed_get(client, "/metrics")
    ranked = [entry["endpoint"] for entry in report["top_5_slowest"]]
    assert ranked.index("GET /slow/external-api") < ranked.index("GET /slow/db-query")
    assert report["endpoints"]["GET /slow/external-api"]["min_ms"] >= 500
