"""GET /metrics/prometheus parses back as text format 0.0.4 and agrees with the recorded requests."""

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from application.metrics import prometheus_text
from domain.metrics import RequestSample
from infrastructure.memory.metrics import InMemoryMetrics
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
