"""/metrics over several processes: two real instances sharing one Redis prefix, scopes and fallbacks in-process."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from domain.metrics import RequestSample
from domain.ports import MetricsSharePort
from infrastructure.memory.metrics import InMemoryMetrics
from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import FakeClock, FakeMetricsShare, Override
from tests.servers import free_port, start_uvicorn, stop, wait_healthy
from tests.services import REDIS_URL, fresh_redis_prefix, wait_until

ENDPOINT = "GET /items/{item_id}"


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """Two instances of the service (URL, process), each with its own database, publishing to one Redis prefix
    every second."""
    with fresh_redis_prefix("cluster") as prefix:
        ports = [free_port(), free_port()]
        servers = [
            start_uvicorn(
                port,
                {
                    "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / f'db{port}.sqlite'}",
                    "PERFSHOP_DEMO_ITEMS": "0",
                    "PERFSHOP_DEMO_ORDERS": "0",
                    "PERFSHOP_REDIS_URL": REDIS_URL,
                    "PERFSHOP_REDIS_PREFIX": prefix,
                    # Live for 3 s after each publication: no instance drops out just because the machine is busy.
                    "PERFSHOP_METRICS_PUBLISH_S": "1",
                },
            )
            for port in ports
        ]
        try:
            for port, server in zip(ports, servers, strict=True):
                wait_healthy(port, server)
            yield [(f"http://127.0.0.1:{port}", server) for port, server in zip(ports, servers, strict=True)]
        finally:
            for server in servers:
                stop(server)


def count(base: str, scope: str | None = None) -> tuple[int, dict[str, object]]:
    params = {"scope": scope} if scope else {}
    document = httpx.get(f"{base}/metrics", params=params, timeout=10).json()
    row = document["endpoints"].get(ENDPOINT)
    return (row["count"] if row else 0), document


def items_requests(base: str, scope: str | None = None) -> dict[str, float]:
    """`perfshop_http_requests_total` of GET /items/{item_id} (2xx and 4xx added), by process label ("" without)."""
    params = {"scope": scope} if scope else {}
    text = httpx.get(f"{base}/metrics/prometheus", params=params, timeout=10).text
    by_process: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "perfshop_http_requests_total" and sample.labels["route"] == "/items/{item_id}":
                process = sample.labels.get("process", "")
                by_process[process] = by_process.get(process, 0) + sample.value
    return by_process


@pytest.mark.redis
@pytest.mark.server
def test_requests_spread_over_two_instances_are_counted_exactly_once_and_stay_after_a_clean_stop(
    instances: list[tuple[str, subprocess.Popen[bytes]]],
) -> None:
    (first, _), (second, second_server) = instances
    for i in range(7):
        httpx.get(f"{first}/items/{i + 1}", timeout=10)
    for i in range(5):
        httpx.get(f"{second}/items/{i + 1}", timeout=10)

    # An instance counts the other's requests once it has read the publication that holds them.
    wait_until(lambda: count(first)[0] >= 12 and count(second)[0] >= 12, "both instances' publications")

    merged, document = count(first)
    assert (merged, document["scope"], document["processes"]) == (12, "cluster", 2)
    assert count(second)[0] == 12
    assert count(first, "local")[0] == 7
    assert count(second, "local")[0] == 5
    assert items_requests(first) == items_requests(second) == {"": 12}  # the cluster's totals, no process label
    per_process = items_requests(first, "process")
    assert sorted(per_process.values()) == [5, 7]
    assert all(process.count(":") == 1 for process in per_process)  # host:pid
    assert list(items_requests(first, "local").values()) == [7]

    stop(second_server)  # a clean stop folds its last counters into the departed sum

    assert items_requests(first) == {"": 12}
    assert list(items_requests(first, "process").values()) == [7]  # it left the live processes at once
    assert count(first)[0] == 7  # /metrics covers the live processes only


def settings_for(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'perfshop.db'}", demo_items=0, demo_orders=0)


async def test_scope_cluster_without_redis_is_a_400_and_a_bad_scope_too(tmp_path: Path) -> None:
    async with AsyncTestClient(app=create_app(settings=settings_for(tmp_path))) as client:
        default = await client.get("/metrics")
        cluster = await client.get("/metrics", params={"scope": "cluster"})
        bogus = await client.get("/metrics", params={"scope": "everything"})

    assert (default.status_code, default.json()["scope"], default.json()["processes"]) == (200, "local", 1)
    assert cluster.status_code == 400
    assert "PERFSHOP_REDIS_URL" in cluster.json()["detail"]
    assert cluster.json()["extra"] == [{"key": "scope", "message": cluster.json()["detail"]}]
    assert bogus.status_code == 400


async def test_an_unreachable_redis_never_fails_metrics(tmp_path: Path) -> None:
    settings = msgspec.structs.replace(settings_for(tmp_path), redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with AsyncTestClient(app=create_app(settings=settings)) as client:
        await client.get("/health")
        response = await client.get("/metrics")
        prometheus = await client.get("/metrics/prometheus")
        local_prometheus = await client.get("/metrics/prometheus", params={"scope": "local"})

    document = response.json()
    assert (response.status_code, document["scope"], document["processes"]) == (200, "local", 1)
    assert "unavailable" in document["cluster_error"]
    assert document["endpoints"]["GET /health"]["count"] == 1
    # No cluster totals rather than one process's counts in their place, which Prometheus would read as a reset.
    assert prometheus.status_code == 503
    assert "scope=local" in prometheus.json()["detail"]
    assert local_prometheus.status_code == 200
    assert 'perfshop_http_requests_total{process="' in local_prometheus.text


async def test_the_default_read_merges_every_published_process(tmp_path: Path) -> None:
    share = FakeMetricsShare()
    elsewhere = InMemoryMetrics(FakeClock(), process="elsewhere")
    for _ in range(3):
        elsewhere.record(RequestSample(endpoint="GET /health", status=200, seconds=0.002))
    share.states["elsewhere"] = elsewhere.state()
    async with AsyncTestClient(
        app=create_app(Override(MetricsSharePort | None, share), settings=settings_for(tmp_path))
    ) as client:
        await client.get("/health")
        local = (await client.get("/metrics", params={"scope": "local"})).json()
        merged = (await client.get("/metrics")).json()

    assert local["endpoints"]["GET /health"]["count"] == 1
    assert (merged["scope"], merged["processes"], merged["endpoints"]["GET /health"]["count"]) == ("cluster", 2, 4)
