"""Engine creation, idempotent schema set-up and the database health probe."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.util import greenlet_spawn

from domain.ports import HealthProbe
from infrastructure.sqla.errors import connection_lost
from infrastructure.sqla.seed import seed_demo
from infrastructure.sqla.tables import metadata

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5_000
POOL_SIZE = 10
POOL_TIMEOUT_S = 10.0
# Start-up may wait for another process that is seeding the demo data.
STARTUP_LOCK_TIMEOUT_MS = 300_000
_STARTUP_LOCK_KEY = 0x70657266  # "perf": one advisory lock id for start-up on PostgreSQL


def make_engine(
    url: str,
    *,
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    pool_size: int = POOL_SIZE,
    pool_timeout_s: float = POOL_TIMEOUT_S,
) -> AsyncEngine:
    """An async engine for `url` with `pool_size` connections, each waited for at most `pool_timeout_s`; SQLite
    files get WAL, a busy timeout and real transactions."""
    # No overflow: a connection opened for one request and closed after it costs a connect (and, on SQLite, a
    # thread and a fresh page cache) each time, and the churn leaves the allocator's heaps fragmented. Requests
    # beyond the pool wait for a connection instead.
    pooling: dict[str, Any] = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout_s}
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping (a round trip before every statement): a connection found dead is discarded when used, and
        # reads are retried once on a fresh one (read_retrying).
        return create_async_engine(url, **pooling)
    in_memory = parsed.database in (None, "", ":memory:")
    if parsed.database and not in_memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # An in-memory database lives in its one connection, which SQLAlchemy keeps in a single-connection pool.
    # No rollback when a connection goes back to the pool: a Connection that began a transaction ends it itself
    # on close, and a statement run on the driver connection commits as it completes (the driver is in
    # autocommit mode, below); the reset would only cost one more hand-off to the driver's thread.
    engine = create_async_engine(url, **({} if in_memory else {**pooling, "pool_reset_on_return": None}))

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions away from the driver's implicit BEGIN so that SQLAlchemy's own BEGIN
        # covers DDL too: the schema is then created atomically by whichever process gets there first.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={sqlite_busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled connection's driver connection (aiosqlite or asyncpg), for one statement run on it directly; one
    that turns out dead is discarded instead of going back to the pool."""
    # The pool's own connection, not an AsyncConnection around it: a statement run on the driver needs neither
    # the Connection object nor the greenlet hop to fetch the driver, and checkout plus return cost 22 µs of the
    # event loop's time instead of 53 µs (docs/benchmarks.md). Same pool, size, timeout and invalidation.
    pooled = await engine.raw_connection()
    try:
        yield pooled.driver_connection
    except Exception as error:
        if connection_lost(error):
            await greenlet_spawn(pooled.invalidate)
        raise
    finally:
        # In a greenlet: a return can close the connection (the pool was disposed), which awaits the driver.
        await greenlet_spawn(pooled.close)


async def read_retrying(engine: AsyncEngine, read: Callable[[Any], Awaitable[T]]) -> T:
    """`read(driver connection)`, repeated once on a fresh connection when the pool's turned out dead (the server
    restarted, or closed it while idle). Only for reads: a write whose connection died may have committed."""
    try:
        async with driver_connection(engine) as driver:
            return await read(driver)
    except Exception as error:
        if not connection_lost(error):
            raise
    async with driver_connection(engine) as driver:
        return await read(driver)


def is_sqlite(engine: AsyncEngine) -> bool:
    """Whether the engine talks to SQLite (the embedded default)."""
    return engine.dialect.name == "sqlite"


async def create_schema(conn: AsyncConnection) -> None:
    """Create every table and index that is missing; safe to run from many processes at once."""
    for table in metadata.sorted_tables:
        await conn.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            await conn.execute(CreateIndex(index, if_not_exists=True))


async def prepare_database(engine: AsyncEngine, *, demo_items: int, demo_orders: int) -> bool:
    """Create the schema and seed the demo data once; one process at a time. True when it seeded."""
    async with engine.connect() as conn:
        if is_sqlite(engine):
            # An IMMEDIATE transaction takes the write lock up front, so a second process waits for
            # the first to commit instead of failing to upgrade a stale read snapshot.
            await conn.exec_driver_sql(f"PRAGMA busy_timeout={STARTUP_LOCK_TIMEOUT_MS}")
            await conn.commit()
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
        try:
            async with conn.begin():
                if not is_sqlite(engine):
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _STARTUP_LOCK_KEY})
                await create_schema(conn)
                if demo_items or demo_orders:
                    return await seed_demo(conn, items_count=demo_items, orders_count=demo_orders)
                return False
        finally:
            if is_sqlite(engine):
                # Drop the connection with the long start-up timeout; the pool opens a normal one later.
                await conn.invalidate()


class SqlaHealthProbe(HealthProbe):
    """Database reachability through a `SELECT 1` on the shared engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._select_one = _sqlite_select_one if is_sqlite(engine) else _postgres_select_one

    async def database_reachable(self) -> bool:
        """True when a trivial query succeeds: one statement on the driver connection."""
        try:
            await read_retrying(self._engine, self._select_one)
        except Exception:  # noqa: BLE001 - any failure means "not reachable", which is the answer
            return False
        return True


async def _sqlite_select_one(driver: Any) -> object:
    return await driver.execute_fetchall("SELECT 1")


async def _postgres_select_one(driver: Any) -> object:
    return await driver.fetchval("SELECT 1")
