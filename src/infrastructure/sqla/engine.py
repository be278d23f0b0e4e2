"""Engine creation, idempotent schema set-up and the database health probe."""

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.util import greenlet_spawn

from domain.ports import HealthProbe
from infrastructure.sqla.errors import connection_lost
from infrastructure.sqla.seed import seed_demo
from infrastructure.sqla.sqlite_library import disable_memory_statistics
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
        # reads are retried once on a fresh one (run_read).
        return create_async_engine(url, **pooling)
    disable_memory_statistics()
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
    checkouts = _checkouts(engine)
    pooled = await checkouts.checkout(engine)
    try:
        yield pooled.driver_connection
    except Exception as error:
        if connection_lost(error):
            await greenlet_spawn(pooled.invalidate)
        raise
    finally:
        await checkouts.checkin(pooled)


async def run_read(engine: AsyncEngine, read: Callable[[Any], Awaitable[T]]) -> T:
    """`read(driver connection)`: one statement that changes nothing.

    On SQLite the reads running at the same time share one pooled connection, whose thread runs them back to
    back. On PostgreSQL each takes a connection of its own, and is repeated once on a fresh one when that
    turned out dead (the server restarted, or closed it while idle); a write is never repeated, as it may have
    committed.
    """
    checkouts = _checkouts(engine)
    if is_sqlite(engine):
        return await checkouts.read_shared(engine, read)
    try:
        async with driver_connection(engine) as driver:
            return await read(driver)
    except Exception as error:
        if not connection_lost(error):
            raise
    async with driver_connection(engine) as driver:
        return await read(driver)


class _Checkouts:
    """How statements on driver connections take connections from one engine's pool, and give them back.

    Statements wait for a free connection on a semaphore sized like the pool, so that the pool itself never
    makes one wait: its wait runs `asyncio.wait_for` in a greenlet, which cost about 27 µs per request at 64
    requests in flight on 10 connections. Past the pool timeout the wait fails as the pool's would.

    A checkout is the pool's own connection rather than an AsyncConnection around it: a statement run on the
    driver needs neither the Connection object nor the greenlet hop to fetch the driver (22 µs of the event
    loop's time per checkout and return instead of 53 µs).

    SQLite reads share the connection checked out by the first of the reads running at a time, returned by the
    last: aiosqlite queues their statements to its one thread, which runs them back to back instead of handing
    each connection back and forth (docs/benchmarks.md: 264–271 -> 187 µs per miss at 64 in flight). Each
    statement is still its own read transaction, so every read sees every write committed before it began.
    """

    def __init__(self, pool: Pool) -> None:
        self._free = asyncio.Semaphore(pool.size()) if isinstance(pool, QueuePool) else None
        self.size = pool.size() if isinstance(pool, QueuePool) else 1
        self.taken = 0
        self._timeout_s = pool.timeout() if isinstance(pool, QueuePool) else 0.0
        self._shared: PoolProxiedConnection | None = None
        self._sharers = 0
        self._sharing = asyncio.Lock()

    async def checkout(self, engine: AsyncEngine) -> PoolProxiedConnection:
        """A connection of the pool, waited for at most the pool timeout."""
        if self._free is not None:
            if self._free.locked():
                try:
                    async with asyncio.timeout(self._timeout_s):
                        await self._free.acquire()
                except TimeoutError:
                    raise PoolTimeout(f"no database connection free within {self._timeout_s:g} s") from None
            else:
                await self._free.acquire()
        self.taken += 1
        try:
            return await engine.raw_connection()
        except BaseException:
            self._leave()
            raise

    async def checkin(self, pooled: PoolProxiedConnection) -> None:
        """Give a checked-out connection back to the pool."""
        try:
            # In a greenlet: a return can close the connection (the pool was disposed), which awaits the driver.
            await greenlet_spawn(pooled.close)
        finally:
            self._leave()

    async def read_shared(self, engine: AsyncEngine, read: Callable[[Any], Awaitable[T]]) -> T:
        """`read` on the connection the reads running now share."""
        self._sharers += 1
        try:
            if self._shared is None:
                async with self._sharing:
                    if self._shared is None:
                        self._shared = await self.checkout(engine)
            return await read(self._shared.driver_connection)
        finally:
            self._sharers -= 1
            if self._sharers == 0:
                await self._return_shared_when_idle()

    async def _return_shared_when_idle(self) -> None:
        try:
            await asyncio.sleep(0)  # the tasks ready to run may start reads of their own: let them share it
        finally:
            if self._sharers == 0 and self._shared is not None:
                pooled, self._shared = self._shared, None
                await self.checkin(pooled)

    def _leave(self) -> None:
        self.taken -= 1
        if self._free is not None:
            self._free.release()


_checkouts_by_pool: "weakref.WeakKeyDictionary[Pool, _Checkouts]" = weakref.WeakKeyDictionary()


def _checkouts(engine: AsyncEngine) -> _Checkouts:
    pool = engine.sync_engine.pool  # a new one after dispose(): its checkouts start afresh
    checkouts = _checkouts_by_pool.get(pool)
    if checkouts is None:
        checkouts = _checkouts_by_pool[pool] = _Checkouts(pool)
    return checkouts


def free_connections(engine: AsyncEngine) -> int:
    """How many of the pool's connections no statement holds now."""
    checkouts = _checkouts(engine)
    return checkouts.size - checkouts.taken


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
            await run_read(self._engine, self._select_one)
        except Exception:  # noqa: BLE001 - any failure means "not reachable", which is the answer
            return False
        return True


async def _sqlite_select_one(driver: Any) -> object:
    return await driver.execute_fetchall("SELECT 1")


async def _postgres_select_one(driver: Any) -> object:
    return await driver.fetchval("SELECT 1")
