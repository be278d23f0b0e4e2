"""The order streams of SQLite and PostgreSQL: bytes equal to the reference encoder's, SQLite's plan, the snapshot."""

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import Dialect, OrderRow, Period, encode_rows
from domain.ports import OrderStreamPort
from infrastructure.sqla.engine import is_sqlite, make_engine, prepare_database
from infrastructure.sqla.orders import SqliteOrderStream, batch_sql, starts_sql, usable_cores
from infrastructure.sqla.pg_orders import PostgresOrderStream
from tests.awkward import awkward_rows, insert_rows
from tests.services import until

DIALECTS = [
    Dialect(),
    Dialect(formula_guard=False),
    Dialect("tsv", "\t"),
    Dialect("tsv", "\t", formula_guard=False),
    Dialect(delimiter=";"),
    Dialect(delimiter="|"),
    Dialect(delimiter="'"),
    Dialect(delimiter="%"),
    Dialect(delimiter="-"),
    Dialect(delimiter=":"),
    Dialect(delimiter="한"),
    Dialect("jsonl"),
]
# The two ways of cutting rows into batches: CSV records (quoted LFs inside) and JSON lines.
CUTS = [Dialect(), Dialect("jsonl")]


ALL = Period()


def in_export_order(rows: list[OrderRow], period: Period = ALL) -> list[OrderRow]:
    start, end = period.bounds()
    kept = [r for r in rows if (not start or str(r.created_at) >= start) and (not end or str(r.created_at) < end)]
    return sorted(kept, key=lambda r: (r.created_at, r.id))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An empty database of each engine, schema created."""
    engine = make_engine(database_url)
    await prepare_database(engine, demo_items=0, demo_orders=0)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}")
    await prepare_database(engine, demo_items=0, demo_orders=0)
    yield engine
    await engine.dispose()


def stream_on(engine: AsyncEngine) -> OrderStreamPort:
    """The engine's own order stream, as the app wires it."""
    return SqliteOrderStream(engine) if is_sqlite(engine) else PostgresOrderStream(engine)


async def exported(stream: OrderStreamPort, period: Period, dialect: Dialect, size: int) -> bytes:
    return b"".join([batch.data async for batch in stream.batches(period, dialect, size)])


@pytest.mark.parametrize("dialect", DIALECTS, ids=repr)
async def test_the_bytes_equal_the_reference_encoders(engine: AsyncEngine, dialect: Dialect) -> None:
    rows = awkward_rows(600)
    await insert_rows(engine, rows)
    stream = stream_on(engine)

    assert await exported(stream, Period(), dialect, size=70) == encode_rows(in_export_order(rows), dialect)


def records(data: bytes, dialect: Dialect) -> int:
    """How many records `data` holds, read by the standard library's CSV or JSON parser."""
    if dialect.format == "jsonl":
        return len([json.loads(line) for line in data.decode().split("\n")[:-1]])
    return len(list(csv.reader(io.StringIO(data.decode(), newline=""))))


@pytest.mark.parametrize("dialect", CUTS, ids=repr)
async def test_periods_select_whole_days_and_batches_cover_every_row_once(
    engine: AsyncEngine, dialect: Dialect
) -> None:
    rows = awkward_rows(500)
    await insert_rows(engine, rows)
    stream = stream_on(engine)
    for period in (Period.parse(None, None, "2024"), Period.parse(None, "2023-12-31", None), Period()):
        expected = in_export_order(rows, period)
        assert 0 < len(expected) <= 500
        assert await stream.count(period) == len(expected)
        for size in (1, 7, 1000):
            batches = [batch async for batch in stream.batches(period, dialect, size)]
            assert all(0 < b.rows <= size for b in batches)
            assert all(records(b.data, dialect) == b.rows for b in batches)  # whole rows, counted exactly
            assert sum(b.rows for b in batches) == len(expected)
            assert b"".join(b.data for b in batches) == encode_rows(expected, dialect)


async def test_an_empty_period_has_no_batches(engine: AsyncEngine) -> None:
    await insert_rows(engine, awkward_rows(10))
    stream = stream_on(engine)
    period = Period.parse(None, None, "1999")
    assert await stream.count(period) == 0
    assert [batch async for batch in stream.batches(period, Dialect(), 10)] == []
    assert (await stream.sample(period, Dialect(), 10)).rows == 0


@pytest.mark.parametrize("dialect", CUTS, ids=repr)
async def test_the_sample_is_rows_from_both_ends(engine: AsyncEngine, dialect: Dialect) -> None:
    rows = in_export_order(awkward_rows(300))
    await insert_rows(engine, rows)
    sample = await stream_on(engine).sample(Period(), dialect, 20)
    expected = encode_rows(rows[:10], dialect) + encode_rows(rows[-10:][::-1], dialect)
    assert (sample.data, sample.rows) == (expected, 20)


@pytest.mark.parametrize("period", [Period(), Period.parse(None, None, "2024"), Period.parse("2024-01-01", None, None)])
@pytest.mark.parametrize("after_key", [False, True])
@pytest.mark.parametrize("query", ["starts", *CUTS], ids=repr)
async def test_the_batch_queries_seek_the_index_without_a_temporary_b_tree(
    sqlite_engine: AsyncEngine, period: Period, after_key: bool, query: str | Dialect
) -> None:
    await insert_rows(sqlite_engine, awkward_rows(2000))
    async with sqlite_engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
        params = {"start": "", "end": "", "last_created_at": "", "last_id": 0, "size": 1000, "count": 32}
        sql = batch_sql(period, query, after_key=after_key) if isinstance(query, Dialect) else starts_sql(period)
        plan = " | ".join(row[3] for row in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)).all())
    assert "TEMP B-TREE" not in plan
    assert "USING INDEX ix_orders_created_at_id" in plan or "USING COVERING INDEX ix_orders_created_at_id" in plan


@pytest.mark.parametrize("dialect", CUTS, ids=repr)
async def test_rows_added_during_an_export_do_not_appear_in_it(engine: AsyncEngine, dialect: Dialect) -> None:
    rows = awkward_rows(300)
    await insert_rows(engine, rows)
    late = OrderRow(10_000, "late", "late", 1, 1.0, "paid", datetime(2030, 1, 1))
    batches = stream_on(engine).batches(Period(), dialect, 100)

    first = await anext(batches)
    await insert_rows(engine, [late])
    rest = [batch async for batch in batches]

    assert first.data + b"".join(b.data for b in rest) == encode_rows(in_export_order(rows), dialect)
    assert await stream_on(engine).count(Period()) == 301


def vm_steps(database: Path, sql: str, params: dict[str, object]) -> int:
    """SQLite virtual-machine work for one query, counted in thousands of instructions."""
    connection = sqlite3.connect(database)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    connection.set_progress_handler(count, 1000)
    connection.execute(sql, params).fetchall()
    connection.close()
    return steps


async def test_a_late_batch_costs_what_an_early_one_does(sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    start = datetime(2024, 1, 1)
    rows = [OrderRow(i, "n", "p", 1, 1.0, "paid", start + timedelta(minutes=i)) for i in range(1, 40_001)]
    await insert_rows(sqlite_engine, rows)
    period = Period.parse(None, None, "2024")
    sql = batch_sql(period, Dialect(), after_key=True)
    early, late = (
        {"end": "2025-01-01 00:00:00", "size": 100, "last_created_at": str(rows[i].created_at), "last_id": rows[i].id}
        for i in (100, 39_000)
    )

    assert vm_steps(tmp_path / "orders.db", sql, late) <= 2 * vm_steps(tmp_path / "orders.db", sql, early)


def traced_batches(engine: AsyncEngine) -> list[int]:
    """The ids of the connections that run each batch statement from now on, in the order SQLite starts them."""
    runs: list[int] = []

    @event.listens_for(engine.sync_engine, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        sqlite_connection = dbapi_connection.driver_connection._conn
        sqlite_connection.set_trace_callback(
            lambda sql: runs.append(id(sqlite_connection)) if "group_concat" in sql else None
        )

    return runs


@pytest.fixture
async def traced_engine(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, list[int]]]:
    """A SQLite engine whose batch statements are recorded per connection (a fresh file, so fresh connections)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}")
    runs = traced_batches(engine)
    await prepare_database(engine, demo_items=0, demo_orders=0)
    yield engine, runs
    await engine.dispose()


async def test_a_large_export_is_encoded_on_two_connections_in_order(
    traced_engine: tuple[AsyncEngine, list[int]],
) -> None:
    engine, runs = traced_engine
    rows = awkward_rows(3000)
    await insert_rows(engine, rows)

    data = await exported(SqliteOrderStream(engine), Period(), Dialect(), size=100)

    assert data == encode_rows(in_export_order(rows), Dialect())
    assert len(runs) == 31  # 30 batches and the empty one after the last full batch
    assert len(set(runs)) == min(2, usable_cores())


async def test_a_small_export_or_a_busy_pool_keeps_to_one_connection(tmp_path: Path) -> None:
    for rows, pool_size in ((300, 10), (3000, 3)):
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / f'{rows}-{pool_size}.db'}", pool_size=pool_size)
        runs = traced_batches(engine)
        await prepare_database(engine, demo_items=0, demo_orders=0)
        await insert_rows(engine, awkward_rows(rows))
        await exported(SqliteOrderStream(engine), Period(), Dialect(), size=100)
        await engine.dispose()
        assert len(set(runs)) == 1, (rows, pool_size)


async def test_two_readers_encode_a_bounded_number_of_batches_ahead(
    traced_engine: tuple[AsyncEngine, list[int]],
) -> None:
    engine, runs = traced_engine
    await insert_rows(engine, awkward_rows(3000))
    batches = SqliteOrderStream(engine).batches(Period(), Dialect(), 100)

    await anext(batches)
    # The readers run ahead until the bound: the batch sent, and two more per reader encoded or queued.
    bound = 1 + 2 * min(2, usable_cores())
    await until(lambda: len(runs) >= bound)
    # Nothing signals that no further batch will be handed over: the loop gets turns in which an unbounded reader
    # would hand over more (the hand-over happens on the loop; no time passes on purpose).
    for _ in range(100):
        await asyncio.sleep(0)
    assert len(runs) == bound
    await batches.aclose()


async def test_the_readers_share_one_snapshot_while_writes_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}")
    await prepare_database(engine, demo_items=0, demo_orders=0)
    await insert_rows(engine, awkward_rows(3000))
    early, late = datetime(2000, 1, 1), datetime(2099, 1, 1)
    writing = True

    async def write_pairs() -> None:
        # Each commit adds an order before every batch and one after every batch: an export holds both or neither.
        next_id = 100_000
        while writing:
            pair = [OrderRow(next_id + i, "pair", "pair", 1, 1.0, "paid", day) for i, day in enumerate((early, late))]
            await insert_rows(engine, pair)
            next_id += 2

    writer = asyncio.create_task(write_pairs())
    try:
        for _ in range(10):
            lines = (await exported(SqliteOrderStream(engine), Period(), Dialect(), size=100)).splitlines()
            firsts = [line for line in lines if b",pair,pair," in line and line.endswith(b"2000-01-01 00:00:00")]
            lasts = [line for line in lines if b",pair,pair," in line and line.endswith(b"2099-01-01 00:00:00")]
            assert len(firsts) == len(lasts)
        assert not writer.done()  # it wrote all along
    finally:
        writing = False
        await writer
        await engine.dispose()
