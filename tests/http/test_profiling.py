"""ProfilingMiddleware through the real app: endpoint keys, headers, TTFB, slow-request warnings, the switch."""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import msgspec
import pytest
from litestar import get
from litestar.background_tasks import BackgroundTask
from litestar.response import Response, Stream
from litestar.testing import AsyncTestClient

from domain.ports import Clock, WallClock
from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import FakeClock, FakeWallClock, Override, ParkingRepositoryProvider
from tests.services import eventually

Client = AsyncTestClient  # type: ignore[type-arg]
TIMING = re.compile(r"^\d+\.\d{2}ms$")


async def endpoints(client: Client) -> dict[str, dict[str, object]]:
    return (await client.get("/metrics")).json()["endpoints"]  # type: ignore[no-any-return]


async def test_endpoints_are_keyed_by_method_and_route_template(client: Client) -> None:
    await client.post("/items", json={"name": "Desk", "price": 10})
    for item_id in (1, 2, 3, 999):
        await client.get(f"/items/{item_id}")

    rows = await endpoints(client)

    assert rows["GET /items/{item_id}"]["count"] == 4
    assert rows["GET /items/{item_id}"]["status"] == {"2xx": 1, "3xx": 0, "4xx": 3, "5xx": 0}
    assert rows["POST /items"]["count"] == 1
    assert not any("/items/1" in name or "/items/999" in name for name in rows)


async def test_unmatched_paths_and_methods_share_one_row_and_carry_the_headers(client: Client) -> None:
    responses = [await client.get(f"/no/such/path/{i}") for i in range(5)]
    responses.append(await client.delete("/health"))

    assert [response.status_code for response in responses] == [404] * 5 + [405]
    for response in responses:
        assert TIMING.match(response.headers["x-response-time"])
        assert response.headers["server-timing"].startswith("app;dur=")
    rows = await endpoints(client)
    assert rows["<unmatched>"]["count"] == 6
    assert rows["<unmatched>"]["status"]["4xx"] == 6
    assert not any(name.startswith(("GET /no", "DELETE")) for name in rows)


async def test_every_response_carries_its_timing_headers(client: Client) -> None:
    response = await client.get("/health")

    took = response.headers["x-response-time"]
    assert TIMING.match(took)
    assert response.headers["server-timing"] == f"app;dur={took.removesuffix('ms')}"


class Collected(logging.Handler):
    """The messages logged to one logger (Litestar reconfigures the root logger at start-up, so caplog misses them)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def profiling_log() -> Iterator[Collected]:
    handler = Collected()
    logger = logging.getLogger("perfshop.profiling")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def test_a_slow_request_logs_a_warning_naming_endpoint_status_and_duration(
    settings: Settings, profiling_log: Collected
) -> None:
    clock = FakeClock()

    @get("/test/slow")
    async def slow() -> str:
        clock.advance(0.3125)
        return "done"

    @get("/test/quick")
    async def quick() -> str:
        clock.advance(0.2)
        return "done"

    app = create_app(Override(Clock, clock), settings=settings)
    app.register(slow)
    app.register(quick)
    async with AsyncTestClient(app=app) as client:
        await client.get("/test/quick")
        await client.get("/test/slow")

    assert profiling_log.messages == ["slow request: GET /test/slow answered 200 in 312.5 ms (threshold 300 ms)"]


async def test_a_stream_records_time_to_first_byte_and_to_last_byte(settings: Settings) -> None:
    clock = FakeClock()

    @get("/test/stream")
    async def streamed() -> Stream:
        async def chunks() -> AsyncIterator[bytes]:
            clock.advance(0.040)
            yield b"first rows"
            clock.advance(0.960)
            yield b"last rows"

        return Stream(chunks())

    app = create_app(Override(Clock, clock), settings=settings)
    app.register(streamed)
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/test/stream")
        row = (await endpoints(client))["GET /test/stream"]

    assert response.text == "first rowslast rows"
    assert response.headers["x-response-time"] == "0.00ms"  # sent with the headers, before the body
    assert row["ttfb_p50_ms"] == pytest.approx(40, rel=0.02)
    assert row["p50_ms"] == pytest.approx(1000, rel=0.02)
    assert row["max_ms"] == 1000


async def test_background_work_after_the_response_is_not_counted(settings: Settings) -> None:
    clock = FakeClock()

    @get("/test/background")
    async def with_background() -> Response[str]:
        clock.advance(0.010)
        return Response("ok", background=BackgroundTask(clock.advance, 5.0))

    app = create_app(Override(Clock, clock), settings=settings)
    app.register(with_background)
    async with AsyncTestClient(app=app) as client:
        await client.get("/test/background")
        row = (await endpoints(client))["GET /test/background"]

    assert row["max_ms"] == 10


async def test_profiling_can_be_switched_off(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(settings=msgspec.structs.replace(settings, profiling=False))) as client:
        response = await client.get("/health")
        report = (await client.get("/metrics")).json()

    assert "x-response-time" not in response.headers
    assert report["endpoints"] == {}


async def test_profiling_off_samples_no_loop(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(settings=msgspec.structs.replace(settings, profiling=False))) as client:
        assert (await client.get("/metrics")).json()["event_loop"] is None
        assert "perfshop_event_loop" not in (await client.get("/metrics/prometheus")).text


async def test_metrics_show_the_loop_lag_and_the_requests_inside_the_app(settings: Settings) -> None:
    parking = ParkingRepositoryProvider()
    app = create_app(parking, settings=msgspec.structs.replace(settings, loop_lag_interval_ms=10))
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        item = (await client.post("/items", json={"name": "Desk", "price": 1})).json()
        assert parking.repository is not None
        parking.repository.park()
        held = asyncio.create_task(client.get(f"/items/{item['id']}"))
        await parking.repository.parked.wait()

        loop = (await client.get("/metrics")).json()["event_loop"]
        assert loop["in_flight"] == {"now": 2, "window_max": 2}  # the held read and this one
        parking.repository.release.set()
        await held
        loop = (
            await eventually(lambda: client.get("/metrics"), lambda r: r.json()["event_loop"]["lag_ms"]["samples"] > 0)
        ).json()["event_loop"]
        assert loop["in_flight"] == {"now": 1, "window_max": 2}
        assert loop["interval_ms"] == 10
        assert set(loop["lag_ms"]) == {"samples", "p50", "p95", "p99", "max", "window"}


@pytest.mark.parametrize("trusted", [True, False])
async def test_a_proxys_request_start_gives_queue_and_end_to_end_times_only_when_trusted(
    settings: Settings, trusted: bool
) -> None:
    wall = FakeWallClock()
    app = create_app(Override(WallClock, wall), settings=msgspec.structs.replace(settings, trust_request_start=trusted))
    async with AsyncTestClient(app=app) as client:
        await client.get("/health", headers={"X-Request-Start": f"t={wall.now - 0.05:.3f}"})  # NGINX
        await client.get("/health", headers={"X-Queue-Start": f"{round((wall.now - 0.05) * 1e6)}"})  # µs
        for forged in ("t=soon", f"t={wall.now + 30:.3f}", f"t={wall.now - 3600:.3f}"):
            await client.get("/health", headers={"X-Request-Start": forged})
        report = (await client.get("/metrics")).json()

    health = report["endpoints"]["GET /health"]
    if not trusted:
        assert not [key for key in health if key.startswith(("queue_", "e2e_"))]
        assert set(report["request_starts_rejected"].values()) == {0}
        return
    assert health["queue_max_ms"] == pytest.approx(50, abs=1)
    assert health["queue_p50_ms"] == pytest.approx(50, rel=1 / 32)
    assert health["e2e_p50_ms"] >= health["queue_p50_ms"]
    assert health["window"]["queue_p99_ms"] == pytest.approx(50, rel=1 / 32)
    assert report["request_starts_rejected"] == {"unparseable": 1, "too_old": 1, "in_future": 1}
    assert 0 <= health["apdex"] <= 1


async def test_metrics_report_the_objectives_set(settings: Settings) -> None:
    with_objectives = msgspec.structs.replace(settings, slo_availability=99.0, slo_latency="99:300")
    async with AsyncTestClient(app=create_app(settings=with_objectives)) as client:
        await client.get("/health")
        await client.get("/nowhere")  # a 404: good for availability
        slo = (await client.get("/metrics")).json()["slo"]

    assert set(slo) == {"availability", "latency"}
    assert (slo["availability"]["good"], slo["availability"]["bad"], slo["availability"]["status"]) == (2, 0, "ok")
    assert slo["latency"]["threshold_ms"] == 300
    assert set(slo["availability"]["windows"]) == {"5m", "30m", "1h", "6h"}
    assert slo["availability"]["windows"]["6h"]["partial"] is True
    assert slo["availability"]["fast_burn"] == {"windows": ["5m", "1h"], "threshold": 14.4, "firing": False}
