"""Failures stay inside: clear 4xx/503 answers, no internal detail, and recovery without a restart."""

import sqlite3
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from domain.ports import ItemRepository
from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import BrokenItemRepository, Override


async def test_an_unexpected_error_is_a_bare_500_without_internal_detail(settings: Settings) -> None:
    broken = BrokenItemRepository(RuntimeError("secret detail at /srv/perfshop/internal.py"))
    async with AsyncTestClient(app=create_app(Override(ItemRepository, broken), settings=settings)) as client:
        response = await client.get("/items/1")
    assert response.status_code == 500
    assert response.json() == {"status_code": 500, "detail": "Internal Server Error", "extra": []}
    assert "secret" not in response.text
    assert "Traceback" not in response.text


async def test_a_locked_sqlite_database_is_503_with_retry_after_and_recovers(tmp_path: Path) -> None:
    database = tmp_path / "locked.db"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}", demo_items=0, demo_orders=0, sqlite_busy_timeout_ms=50
    )
    async with AsyncTestClient(app=create_app(settings=settings)) as client:
        holder = sqlite3.connect(database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer keeps the lock past the busy timeout
        try:
            refused = await client.post("/items", json={"name": "Lamp", "price": 12.5})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        accepted = await client.post("/items", json={"name": "Lamp", "price": 12.5})
        listed = (await client.get("/items")).json()

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["detail"] == "the database is unavailable; retry shortly"
    assert accepted.status_code == 201
    assert listed["total"] == 1  # the refused write left nothing behind


async def test_a_body_over_the_cap_is_413(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(settings=settings)) as client:
        too_big = await client.post(
            "/items",
            content=b'{"name": "' + b"x" * settings.max_body_bytes + b'", "price": 1}',
            headers={"content-type": "application/json"},
        )
        small = await client.post("/items", json={"name": "x", "price": 1})
    assert too_big.status_code == 413
    assert too_big.json()["status_code"] == 413
    assert small.status_code == 201


@pytest.mark.parametrize("profiling", [True, False])
async def test_every_response_forbids_content_sniffing(settings: Settings, profiling: bool) -> None:
    app = create_app(settings=msgspec.structs.replace(settings, profiling=profiling))
    async with AsyncTestClient(app=app) as client:
        for path in ("/health", "/items", "/items/99", "/no-such-page"):
            response = await client.get(path)
            assert response.headers["x-content-type-options"] == "nosniff"
