"""The database pool keeps a fixed number of connections: calls beyond it wait for one, and past the pool's
timeout they fail as `Unavailable` (a 503), never as an unexpected error."""

import _sqlite3
import asyncio
import ctypes
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from domain.errors import Unavailable
from domain.items import ItemPatch, NewItem
from domain.orders import Period
from infrastructure.sqla.engine import create_schema, is_sqlite, make_engine, run_read
from infrastructure.sqla.items import SqlaItemRepository
from infrastructure.sqla.order_stats import SqlaOrderStats
from infrastructure.sqla.orders import SqliteOrderStream
from infrastructure.sqla.pg_orders import PostgresOrderStream
from tests.services import until


async def test_more_concurrent_calls_than_connections_all_succeed_on_the_pool(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=2)
    connections_opened = 0

    @event.listens_for(engine.sync_engine, "connect")
    def _count(*_: Any) -> None:
        nonlocal connections_opened
        connections_opened += 1

    try:
        async with engine.begin() as conn:
            await create_schema(conn)
        items = SqlaItemRepository(engine)
        created = [await items.add(NewItem(name=f"item {n}", price=1.5, stock=n)) for n in range(12)]

        reads = [items.get(item.id) for item in created]
        writes = [items.update(item.id, ItemPatch(stock=item.stock + 100)) for item in created]
        results = await asyncio.gather(*reads, *writes)

        assert all(result is not None for result in results)
        stored = [await items.get(item.id) for item in created]
        assert [item.stock for item in stored if item is not None] == [n + 100 for n in range(12)]
        assert connections_opened <= 2
    finally:
        await engine.dispose()


async def test_a_call_that_cannot_get_a_connection_in_time_is_unavailable(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, pool_timeout_s=0.1)
    try:
        async with engine.begin() as conn:
            await create_schema(conn)
        items = SqlaItemRepository(engine)
        orders = SqliteOrderStream(engine) if is_sqlite(engine) else PostgresOrderStream(engine)
        async with engine.connect():  # the only connection is taken
            with pytest.raises(Unavailable):
                await items.get(1)
            with pytest.raises(Unavailable):
                await orders.count(Period())
            with pytest.raises(Unavailable):
                await SqlaOrderStats(engine).totals_by_status()
        assert await items.get(1) is None  # served again once the connection is back
    finally:
        await engine.dispose()


async def test_sqlite_reads_running_together_share_one_connection_and_return_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'perfshop.db'}", pool_size=3)
    pool = engine.sync_engine.pool
    release = asyncio.Event()
    started = 0
    drivers: set[int] = set()

    async def blocked_read(driver: Any) -> int:
        nonlocal started
        drivers.add(id(driver))
        started += 1
        await release.wait()
        return int((await driver.execute_fetchall("SELECT 1"))[0][0])

    try:
        reads = [asyncio.create_task(run_read(engine, blocked_read)) for _ in range(20)]
        await until(lambda: started == 20)
        assert pool.checkedout() == 1  # type: ignore[attr-defined]
        assert len(drivers) == 1
        async with engine.connect() as conn:  # the other connections stay free for writes and exports
            assert (await conn.exec_driver_sql("SELECT 2")).scalar_one() == 2
        release.set()
        assert await asyncio.gather(*reads) == [1] * 20
        await until(lambda: pool.checkedout() == 0)  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_sqlite_keeps_no_global_memory_statistics(tmp_path: Path) -> None:
    # Counting every allocation under one process-wide mutex serializes connections on different threads.
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'stats.db'}")
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
        library = ctypes.CDLL(_sqlite3.__file__)
        library.sqlite3_memory_used.restype = ctypes.c_int64
        assert library.sqlite3_memory_used() == 0  # what SQLite reports with the statistics off
    await engine.dispose()
