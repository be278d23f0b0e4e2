"""GET /metrics/prometheus parses back as text format 0.0.4 and agrees with the recorded requests."""

import asyncio
import shutil
from asyncio.subprocess import PIPE, STDOUT

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from application.metrics import prometheus_text
from domain.metrics import RequestSample
from infrastructure.memory.metrics import InMemoryMetrics
from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import FakeClock

Client = AsyncTestClient  # type: ignore[type-arg]


def families(text: str) -> dict[str, list[Sample]]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


async def test_the_exposition_parses_back_with_route_templates(client: Client) -> None:
    for item_id in (1, 2, 3):
        await client.get(f"/items/{item_id}")
    await client.get("/health")
    await client.get("/nowhere")

    response = await client.get("/metrics/prometheus")

    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"  # the charset once
    parsed = families(response.text)
    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status_class"]): s.value
        for s in parsed["perfshop_http_requests"]
        if s.name == "perfshop_http_requests_total"
    }
    assert requests[("GET", "/items/{item_id}", "4xx")] == 3
    assert requests[("GET", "/health", "2xx")] == 1
    assert requests[("*", "<unmatched>", "4xx")] == 1
    durations = parsed["perfshop_http_request_duration_seconds"]
    health = [s for s in durations if s.labels.get("route") == "/health"]
    buckets = [s.value for s in health if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets)  # cumulative
    assert buckets[-1] == next(s.value for s in health if s.name.endswith("_count")) == 1


def test_endpoints_of_100_200_and_500_ms_land_in_different_buckets() -> None:
    clock = FakeClock()
    metrics = InMemoryMetrics(clock)
    for endpoint, seconds in (("GET /a", 0.1), ("GET /b", 0.2), ("GET /c", 0.5)):
        for factor in (0.85, 1.0, 1.15):  # 15 % either way
            metrics.record(RequestSample(endpoint=endpoint, status=200, seconds=seconds * factor))

    durations = families(prometheus_text([metrics.state()]))["perfshop_http_request_duration_seconds"]

    def full_at(route: str) -> float:
        """The smallest bound whose bucket holds all three requests of the route."""
        return min(
            float(s.labels["le"])
            for s in durations
            if s.name.endswith("_bucket") and s.labels["route"] == route and s.value == 3
        )

    def empty_below(route: str) -> float:
        """The largest bound whose bucket holds none of them."""
        return max(
            float(s.labels["le"])
            for s in durations
            if s.name.endswith("_bucket") and s.labels["route"] == route and s.value == 0
        )

    assert full_at("/a") <= empty_below("/b")
    assert full_at("/b") <= empty_below("/c")


async def test_promtool_accepts_the_exposition(settings: Settings) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install --no-install-recommends prometheus)")
    with_everything = msgspec.structs.replace(settings, slo_availability=99.9, slo_latency="99:300")
    async with AsyncTestClient(app=create_app(settings=with_everything)) as client:
        await client.get("/health")
        await client.get("/items/1")
        await client.get("/nowhere")
        text = (await client.get("/metrics/prometheus")).text

    checker = await asyncio.create_subprocess_exec(promtool, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT)
    output, _ = await asyncio.wait_for(checker.communicate(text.encode()), timeout=60)
    assert checker.returncode == 0, output.decode()
    assert "perfshop_event_loop_lag_seconds_bucket" in text
    assert "perfshop_slo_bad_requests_total" in text
