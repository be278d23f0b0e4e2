"""GET /metrics/prometheus parses back as text format 0.0.4 and agrees with the recorded requests."""

import asyncio
import shutil
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from redis.asyncio import Redis

from application.prometheus import prometheus_text
from domain.metrics import RequestSample
from domain.slo import Objective
from infrastructure.memory.metrics import InMemoryMetrics
from infrastructure.redis.metrics import RedisMetricsShare
from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import FakeClock
from tests.services import REDIS_URL, eventually, fresh_redis_prefix

Client = AsyncTestClient  # type: ignore[type-arg]
OBJECTIVES = (Objective("availability", 99.9), Objective("latency", 99, 300))


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


async def promtool_check(text: str) -> None:
    """`promtool check metrics` accepts `text`; skips the test when promtool is not installed."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install --no-install-recommends prometheus)")
    checker = await asyncio.create_subprocess_exec(promtool, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT)
    output, _ = await asyncio.wait_for(checker.communicate(text.encode()), timeout=60)
    assert checker.returncode == 0, output.decode()


async def test_promtool_accepts_the_exposition(settings: Settings) -> None:
    with_everything = msgspec.structs.replace(settings, slo_availability=99.9, slo_latency="99:300")
    async with AsyncTestClient(app=create_app(settings=with_everything)) as client:
        await client.get("/health")
        await client.get("/items/1")
        await client.get("/nowhere")
        text = (await client.get("/metrics/prometheus")).text

    await promtool_check(text)
    assert "perfshop_event_loop_lag_seconds_bucket" in text
    assert "perfshop_slo_bad_requests_total" in text


@pytest.fixture
def prefix() -> Iterator[str]:
    with fresh_redis_prefix("scrape") as prefix:
        yield prefix


@pytest.mark.redis
async def test_the_cluster_scrape_adds_departed_processes_without_a_process_label(
    settings: Settings, prefix: str
) -> None:
    departed = InMemoryMetrics(FakeClock(), process="gone:1", loop_interval_s=0.05, objectives=OBJECTIVES)
    for _ in range(4):
        departed.record(RequestSample(endpoint="GET /health", status=200, seconds=0.002))
    departed.lag(0.004)
    redis = Redis.from_url(REDIS_URL)
    try:
        await RedisMetricsShare(redis, prefix, expiry_s=3).leave(departed.state())
    finally:
        await redis.aclose()
    clustered = msgspec.structs.replace(
        settings,
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        metrics_publish_s=0.05,
        slo_availability=99.9,
        slo_latency="99:300",
    )
    async with AsyncTestClient(app=create_app(settings=clustered)) as client:
        await client.get("/health")
        await client.get("/nowhere")

        async def health_requests() -> tuple[str, float]:
            text = (await client.get("/metrics/prometheus")).text
            samples = families(text)["perfshop_http_requests"]
            return text, sum(s.value for s in samples if s.labels["route"] == "/health")

        text, count = await eventually(health_requests, lambda scraped: scraped[1] >= 5)  # once it has published
        per_process = families((await client.get("/metrics/prometheus", params={"scope": "process"})).text)

    assert count == 5  # the departed process's 4 and this one's
    parsed = families(text)
    assert all("process" not in s.labels for samples in parsed.values() for s in samples)
    good = {s.labels["objective"]: s.value for s in parsed["perfshop_slo_good_requests"] if s.name.endswith("_total")}
    answered = sum(s.value for s in parsed["perfshop_http_requests"] if s.name.endswith("_total"))
    assert good == {"availability": answered, "latency": answered}  # no 5xx, none slow: the scrapes included
    lag = parsed["perfshop_event_loop_lag_seconds"]
    assert next(s.value for s in lag if s.name.endswith("_count")) >= 1  # the departed loop's sample at least
    assert [s.labels for s in parsed["perfshop_http_requests_in_flight"]] == [{}]
    await promtool_check(text)
    processes = {s.labels["process"] for s in per_process["perfshop_http_requests"]}
    assert len(processes) == 1
    assert processes != {"gone:1"}  # live processes only
