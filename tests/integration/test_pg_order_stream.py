"""The PostgreSQL order stream when its COPY dies half-way: an error, never a clean end."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import Unavailable
from domain.orders import Dialect, EncodedBatch, Period
from infrastructure.sqla.engine import make_engine, prepare_database
from infrastructure.sqla.pg_orders import PostgresOrderStream, split_records
from infrastructure.sqla.seed import load_orders
from tests.services import empty_postgres_tables


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """This run's PostgreSQL database with 150,000 generated orders."""
    await empty_postgres_tables(postgres_url)
    engine = make_engine(postgres_url)
    await prepare_database(engine, demo_items=0, demo_orders=0)
    async with engine.begin() as conn:
        await load_orders(conn, 150_000, seed=1)
    yield engine
    await engine.dispose()


@pytest.mark.postgres
async def test_a_copy_killed_midway_raises_instead_of_ending(engine: AsyncEngine, postgres_url: str) -> None:
    batches = PostgresOrderStream(engine).batches(Period(), Dialect(), 100)
    read = (await anext(batches)).rows
    admin = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query ILIKE 'COPY%' AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()

    counted = [read]
    with pytest.raises(Unavailable):
        await read_all(batches, counted)
    assert killed == 1
    assert sum(counted) < 150_000


async def read_all(batches: AsyncIterator[EncodedBatch], counted: list[int]) -> None:
    """Read every remaining batch, noting its rows."""
    counted.extend([batch.rows async for batch in batches])


def test_records_are_cut_only_at_line_feeds_outside_quotes() -> None:
    data = b'1,"a\nb",x\n2,"say ""hi""\n",y\n3,plain,z\n4,"unfinished\n'
    batches, rest = split_records(data, 2)
    assert [(b.data, b.rows) for b in batches] == [
        (b'1,"a\nb",x\n2,"say ""hi""\n",y\n', 2),
        (b"3,plain,z\n", 1),
    ]
    assert rest == b'4,"unfinished\n'
    assert split_records(rest, 2) == ([], rest)


def test_json_lines_are_cut_at_every_line_feed_with_a_quote_that_never_occurs() -> None:
    data = b'{"a":"say \\"hi\\""}\n{"a":"\\""}\n{"a":"x"}\n{"a":"unfini'
    batches, rest = split_records(data, 2, b"\x01")
    assert [(b.data, b.rows) for b in batches] == [(b'{"a":"say \\"hi\\""}\n{"a":"\\""}\n', 2), (b'{"a":"x"}\n', 1)]
    assert rest == b'{"a":"unfini'
