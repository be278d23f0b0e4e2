"""Several processes starting on one fresh database create the schema and seed exactly once."""

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from infrastructure.sqla.engine import make_engine
from tests.servers import free_port, start_perfshop, start_uvicorn, stop, wait_healthy


async def scalars(url: str, *queries: str) -> list[object]:
    """The single value each query returns."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return [(await conn.execute(text(query))).scalar_one() for query in queries]
    finally:
        await engine.dispose()


def start_servers(count: int, env: dict[str, str]) -> list[int]:
    ports = [free_port() for _ in range(count)]
    processes = [start_uvicorn(port, env) for port in ports]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_healthy(port, process)
        return [httpx.get(f"http://127.0.0.1:{port}/items", params={"size": 1}).json()["total"] for port in ports]
    finally:
        for process in processes:
            stop(process)


@pytest.mark.server
def test_two_processes_on_a_fresh_database_seed_exactly_once(fresh_database: str) -> None:
    env = {"PERFSHOP_DATABASE_URL": fresh_database, "PERFSHOP_DEMO_ITEMS": "250", "PERFSHOP_DEMO_ORDERS": "30000"}

    assert start_servers(2, env) == [250, 250]

    counts = asyncio.run(
        scalars(
            fresh_database,
            "SELECT count(*) FROM orders",
            "SELECT count(DISTINCT id) FROM orders",
            "SELECT count(*) FROM perfshop_startup_claims",
        )
    )
    assert counts == [30000, 30000, 1]


@pytest.mark.server
def test_a_restart_does_not_seed_again(fresh_database: str) -> None:
    env = {"PERFSHOP_DATABASE_URL": fresh_database, "PERFSHOP_DEMO_ITEMS": "5", "PERFSHOP_DEMO_ORDERS": "10"}
    assert start_servers(1, env) == [5]
    assert start_servers(1, env) == [5]
    assert asyncio.run(scalars(fresh_database, "SELECT count(*) FROM orders")) == [10]


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"
    assert asyncio.run(scalars(url, "PRAGMA journal_mode")) == ["wal"]


@pytest.mark.server
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the server's mapped libraries from /proc")
def test_serve_runs_on_uvloop_and_httptools_with_access_lines_at_info(tmp_path: Path) -> None:
    port = free_port()
    env = {"PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/perfshop.db", "PERFSHOP_DEMO_ITEMS": "0"}
    server = start_perfshop(port, {**env, "PERFSHOP_DEMO_ORDERS": "0", "PERFSHOP_LOG_LEVEL": "INFO"})
    try:
        wait_healthy(port, server)
        mapped = Path(f"/proc/{server.pid}/maps").read_text()
    finally:
        stop(server)
    output = server.stdout.read().decode() if server.stdout else ""
    assert "/uvloop/loop." in mapped
    assert "/httptools/parser/parser." in mapped
    assert '"GET /health HTTP/1.1" 200' in output, output  # above INFO the access lines are not built at all
