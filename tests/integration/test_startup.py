"""Several processes starting on one fresh database create the schema and seed exactly once."""

import sqlite3
from pathlib import Path

import httpx

from tests.servers import free_port, start_uvicorn, stop, wait_healthy


def test_two_processes_on_a_fresh_database_seed_exactly_once(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    env = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PERFSHOP_DEMO_ITEMS": "250",
        "PERFSHOP_DEMO_ORDERS": "30000",
    }
    ports = [free_port(), free_port()]
    processes = [start_uvicorn(port, env) for port in ports]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_healthy(port, process)
        for port in ports:
            page = httpx.get(f"http://127.0.0.1:{port}/items", params={"size": 1}).json()
            assert page["total"] == 250
    finally:
        for process in processes:
            stop(process)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM orders").fetchone() == (30000, 30000)
        assert conn.execute("SELECT count(*) FROM perfshop_startup_claims").fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_restart_does_not_seed_again(tmp_path: Path) -> None:
    env = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "PERFSHOP_DEMO_ITEMS": "5",
        "PERFSHOP_DEMO_ORDERS": "0",
    }
    for _ in range(2):
        port = free_port()
        process = start_uvicorn(port, env)
        try:
            wait_healthy(port, process)
            assert httpx.get(f"http://127.0.0.1:{port}/items").json()["total"] == 5
        finally:
            stop(process)
