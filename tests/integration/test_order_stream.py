"""The SQLite order stream: its bytes equal the reference encoder's, its plan, its snapshot."""

import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import Dialect, OrderRow, Period, encode_rows
from infrastructure.sqla.engine import make_engine, prepare_database
from infrastructure.sqla.orders import SqliteOrderStream, batch_sql
from infrastructure.sqla.tables import orders

AWKWARD = [
    "plain",
    "Keyboard, mechanical",
    'Monitor 27" 4K',
    '"Quoted"',
    "Gift\nCard",
    "CR\rinside",
    "\r\nstarts with CRLF",
    "tab\tinside",
    "\tleading tab",
    "=SUM(A1:A9)",
    "+82 10",
    "-20%",
    "@home",
    "=cmd|' /C calc'!A0",
    "노트북 거치대, 화이트",
    "semi;colon",
    "pipe|bar",
    "apostrophe's",
    "100% %d %s",
    "",
    " spaced ",
]
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
]


def awkward_rows(count: int, seed: int = 7) -> list[OrderRow]:
    """Rows full of values that need quoting, guarding or both; many share a timestamp."""
    rng = random.Random(seed)
    start = datetime(2023, 12, 31, 23, 59, 0)
    return [
        OrderRow(
            id=i,
            customer_name=rng.choice(AWKWARD),
            product=rng.choice(AWKWARD),
            quantity=rng.randint(1, 10),
            unit_price=rng.choice([0, 0.5, 1.05, 19.99, 329, 1234567.89]),
            status=rng.choice(["paid", "-refunded", "=x", "a,b"]),
            created_at=start + timedelta(seconds=rng.randrange(0, 240)),
        )
        for i in rng.sample(range(1, count * 3), count)
    ]


async def insert_rows(engine: AsyncEngine, rows: list[OrderRow]) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(orders), [row_values(row) for row in rows])


def row_values(row: OrderRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in OrderRow.__struct_fields__}


ALL = Period()


def in_export_order(rows: list[OrderRow], period: Period = ALL) -> list[OrderRow]:
    start, end = period.bounds()
    kept = [r for r in rows if (not start or str(r.created_at) >= start) and (not end or str(r.created_at) < end)]
    return sorted(kept, key=lambda r: (r.created_at, r.id))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}")
    await prepare_database(engine, demo_items=0, demo_orders=0)
    yield engine
    await engine.dispose()


async def exported(stream: SqliteOrderStream, period: Period, dialect: Dialect, size: int) -> bytes:
    return b"".join([batch.data async for batch in stream.batches(period, dialect, size)])


@pytest.mark.parametrize("dialect", DIALECTS, ids=repr)
async def test_the_bytes_equal_the_reference_encoders(engine: AsyncEngine, dialect: Dialect) -> None:
    rows = awkward_rows(600)
    await insert_rows(engine, rows)
    stream = SqliteOrderStream(engine)

    assert await exported(stream, Period(), dialect, size=70) == encode_rows(in_export_order(rows), dialect)


async def test_periods_select_whole_days_and_batches_cover_every_row_once(engine: AsyncEngine) -> None:
    rows = awkward_rows(500)
    await insert_rows(engine, rows)
    stream = SqliteOrderStream(engine)
    for period in (Period.parse(None, None, "2024"), Period.parse(None, "2023-12-31", None), Period()):
        expected = in_export_order(rows, period)
        assert 0 < len(expected) <= 500
        assert await stream.count(period) == len(expected)
        for size in (1, 7, 1000):
            batches = [batch async for batch in stream.batches(period, Dialect(), size)]
            assert [b.rows for b in batches[:-1]] == [size] * (len(batches) - 1)
            assert sum(b.rows for b in batches) == len(expected)
            assert b"".join(b.data for b in batches) == encode_rows(expected, Dialect())


async def test_an_empty_period_has_no_batches(engine: AsyncEngine) -> None:
    await insert_rows(engine, awkward_rows(10))
    stream = SqliteOrderStream(engine)
    period = Period.parse(None, None, "1999")
    assert await stream.count(period) == 0
    assert [batch async for batch in stream.batches(period, Dialect(), 10)] == []
    assert (await stream.sample(period, Dialect(), 10)).rows == 0


async def test_the_sample_is_rows_from_both_ends(engine: AsyncEngine) -> None:
    rows = in_export_order(awkward_rows(300))
    await insert_rows(engine, rows)
    sample = await SqliteOrderStream(engine).sample(Period(), Dialect(), 20)
    expected = encode_rows(rows[:10], Dialect()) + encode_rows(rows[-10:][::-1], Dialect())
    assert (sample.data, sample.rows) == (expected, 20)


@pytest.mark.parametrize("period", [Period(), Period.parse(None, None, "2024"), Period.parse("2024-01-01", None, None)])
@pytest.mark.parametrize("after_key", [False, True])
async def test_the_batch_query_seeks_the_index_without_a_temporary_b_tree(
    engine: AsyncEngine, period: Period, after_key: bool
) -> None:
    await insert_rows(engine, awkward_rows(2000))
    async with engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
        params = {"start": "", "end": "", "last_created_at": "", "last_id": 0, "size": 1000}
        sql = batch_sql(period, Dialect(), after_key=after_key)
        plan = " | ".join(row[3] for row in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)).all())
    assert "TEMP B-TREE" not in plan
    assert "USING INDEX ix_orders_created_at_id" in plan or "USING COVERING INDEX ix_orders_created_at_id" in plan


async def test_rows_added_during_an_export_do_not_appear_in_it(engine: AsyncEngine) -> None:
    rows = awkward_rows(300)
    await insert_rows(engine, rows)
    late = OrderRow(10_000, "late", "late", 1, 1.0, "paid", datetime(2030, 1, 1))
    batches = SqliteOrderStream(engine).batches(Period(), Dialect(), 100)

    first = await anext(batches)
    await insert_rows(engine, [late])
    rest = [batch async for batch in batches]

    assert first.data + b"".join(b.data for b in rest) == encode_rows(in_export_order(rows), Dialect())
    assert await SqliteOrderStream(engine).count(Period()) == 301


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


async def test_a_late_batch_costs_what_an_early_one_does(engine: AsyncEngine, tmp_path: Path) -> None:
    start = datetime(2024, 1, 1)
    rows = [OrderRow(i, "n", "p", 1, 1.0, "paid", start + timedelta(minutes=i)) for i in range(1, 40_001)]
    await insert_rows(engine, rows)
    period = Period.parse(None, None, "2024")
    sql = batch_sql(period, Dialect(), after_key=True)
    early, late = (
        {"end": "2025-01-01 00:00:00", "size": 100, "last_created_at": str(rows[i].created_at), "last_id": rows[i].id}
        for i in (100, 39_000)
    )

    assert vm_steps(tmp_path / "orders.db", sql, late) <= 2 * vm_steps(tmp_path / "orders.db", sql, early)
