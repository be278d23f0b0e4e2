"""The deliberately slow endpoints are slow, do real work, and leave the event loop free for other requests."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.servers import live_server

pytestmark = pytest.mark.server

# About 1.5 s of encoding: many times as long as a health check takes while a worker thread encodes.
PAYLOAD_ROWS = 6_000_000


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server with 3,000 demo orders and a serialization payload big enough to take a while."""
    database = tmp_path_factory.mktemp("slow") / "perfshop.db"
    env = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PERFSHOP_DEMO_ITEMS": "10",
        "PERFSHOP_DEMO_ORDERS": "3000",
        "PERFSHOP_SLOW_PAYLOAD_ROWS": str(PAYLOAD_ROWS),
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


async def test_serialization_encodes_the_configured_number_of_rows(client: httpx.AsyncClient) -> None:
    _, body, _ = await timed_get(client, "/slow/serialization")
    assert body["rows"] == PAYLOAD_ROWS
    assert body["bytes"] > PAYLOAD_ROWS * 100  # each row is a JSON object of about 160 bytes


async def test_the_metrics_rank_the_slow_endpoints_by_their_average(client: httpx.AsyncClient) -> None:
    for path in ("/slow/db-query", "/slow/external-api"):
        await timed_get(client, path)
    _, report, _ = await timed_get(client, "/metrics")
    ranked = [entry["endpoint"] for entry in report["top_5_slowest"]]
    assert ranked.index("GET /slow/external-api") < ranked.index("GET /slow/db-query")
    assert report["endpoints"]["GET /slow/external-api"]["min_ms"] >= 500
