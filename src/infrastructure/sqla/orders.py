"""Orders streamed out of SQLite, each batch encoded by SQLite itself into the domain's export format."""

import asyncio
import os
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack, aclosing
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import FORMULA_STARTS, Dialect, EncodedBatch, Period
from domain.ports import OrderStreamPort
from infrastructure.sqla.engine import driver_connection, free_connections, run_read
from infrastructure.sqla.errors import database_errors

# Characters that the id, quantity, price and timestamp columns can contain: a delimiter among them forces
# quotes on those columns too, so that only then do they pay for the check.
_NUMERIC_CHARS = frozenset("0123456789.-: ")
# A second reader pays for its set-up from about this many batches on.
PARALLEL_FROM_BATCHES = 8
# Pool connections a second reader must leave free: one to line readers up, one for everything else.
RESERVED_CONNECTIONS = 2
_STARTS_PER_READ = 32
_SMALLEST_ID = -(2**63)
# Batches each reader may have encoded or queued ahead of the one being sent: the look-ahead bound.
_AHEAD_PER_READER = 2
# One JSON line: json_quote() escapes exactly as the domain's JSON_ESCAPES (the quote, the backslash, \b \t \n \f \r,
# \u00xx in lowercase hex for the other control characters, all else raw), which the byte-for-byte tests pin.
_JSON_LINE = (
    """printf('{"id":%d,"customer_name":%s,"product":%s,"quantity":%d,"unit_price":%.2f,"status":%s,"""
    """"created_at":"%sZ"}' || char(10), id, json_quote(customer_name), json_quote(product), quantity, """
    """unit_price, json_quote(status), replace(created_at, ' ', 'T'))"""
)


def _literal(char: str) -> str:
    """One character as an SQL expression."""
    if char == "'":
        return "''''"
    return f"'{char}'" if char.isprintable() else f"char({ord(char)})"


def _text_field(column: str, dialect: Dialect) -> tuple[str, str]:
    """A printf spec and arguments that encode a text column exactly as `domain.orders.encode_text`.

    `%w` doubles the quotes inside the value; the guard costs one `unicode()` of the first character.
    """
    if not dialect.formula_guard:
        return '"%w"', column
    starts = ", ".join(str(ord(char)) for char in FORMULA_STARTS)
    return '"%s%w"', f"CASE WHEN unicode({column}) IN ({starts}) THEN '''' ELSE '' END, {column}"


def _plain_field(spec: str, expr: str, dialect: Dialect) -> tuple[str, str]:
    """A printf spec and argument for a number or timestamp, quoted only if the delimiter can occur in it."""
    if dialect.delimiter not in _NUMERIC_CHARS:
        return spec, expr
    text = f"printf('{spec}', {expr})"
    return "%s", f"""CASE WHEN instr({text}, {_literal(dialect.delimiter)}) THEN '"' || {text} || '"' ELSE {text} END"""


def row_sql(dialect: Dialect) -> str:
    """SQL for one row's encoded line, LF included: one printf per row keeps SQLite's work small."""
    if dialect.format == "jsonl":
        return _JSON_LINE
    fields = [
        _plain_field("%d", "id", dialect),
        _text_field("customer_name", dialect),
        _text_field("product", dialect),
        _plain_field("%d", "quantity", dialect),
        _plain_field("%.2f", "unit_price", dialect),
        _text_field("status", dialect),
        _plain_field("%s", "created_at", dialect),
    ]
    separator = dialect.delimiter.replace("%", "%%").replace("'", "''")
    template = separator.join(spec for spec, _ in fields)
    return f"printf('{template}' || char(10), {', '.join(expr for _, expr in fields)})"


def _where(period: Period, *, after_key: bool) -> tuple[str, dict[str, Any]]:
    start, end = period.bounds()
    conditions, params = [], {}
    # After the first batch the key is the lower bound: with `created_at >= :start` beside it, SQLite seeks to
    # the start of the period and walks to the key for every batch, which makes the export quadratic.
    if start is not None and not after_key:
        conditions.append("created_at >= :start")
        params["start"] = start
    if end is not None:
        conditions.append("created_at < :end")
        params["end"] = end
    if after_key:
        # Keyset pagination: each batch seeks past the last (created_at, id) in the index instead of
        # counting its way through an OFFSET, so the cost of a batch does not grow with its position.
        conditions.append("(created_at, id) > (:last_created_at, :last_id)")
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", params


def batch_sql(period: Period, dialect: Dialect, *, after_key: bool, descending: bool = False) -> str:
    """One batch: the encoded lines of at most :size rows in (created_at, id) order, as bytes, and their count."""
    where, _ = _where(period, after_key=after_key)
    order = "created_at DESC, id DESC" if descending else "created_at, id"
    # SQLite 3.40 has no ORDER BY inside aggregates; group_concat takes the rows in the order the ordered,
    # limited subquery yields them (the byte-for-byte tests pin this). As a BLOB the text reaches Python as the
    # bytes sent, without a decode to str and an encode back.
    return (
        "SELECT CAST(group_concat(line, '') AS BLOB), count(*) "  # noqa: S608
        f"FROM (SELECT {row_sql(dialect)} AS line FROM orders{where} ORDER BY {order} LIMIT :size)"
    )


def starts_sql(period: Period) -> str:
    """The keys after which the next :count batches of :size rows start, from the key (:last_created_at, :last_id).

    Each step skips :size entries of the index alone from the key before (a correlated OFFSET), reading no row
    but the one it lands on: a tenth of what numbering every key with a window function cost.
    """
    _, end = period.bounds()
    upper = " AND created_at < :end" if end is not None else ""
    return (
        "WITH RECURSIVE boundary(n, at, key) AS (SELECT 0, :last_created_at, :last_id UNION ALL "  # noqa: S608
        "SELECT n + 1, o.created_at, o.id FROM boundary JOIN orders AS o ON o.id = (SELECT id FROM orders "
        f"WHERE (created_at, id) > (boundary.at, boundary.key){upper} ORDER BY created_at, id "
        "LIMIT 1 OFFSET :size - 1) WHERE n < :count) "
        "SELECT at, key FROM boundary WHERE n > 0"
    )


def usable_cores() -> int:
    """The cores this process may run on now (its affinity can be narrowed after it starts)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class SqliteOrderStream(OrderStreamPort):
    """OrderStreamPort on SQLite: SQL-side encoding of keyset batches, read on one or two connections that share
    one snapshot."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # One export at a time takes the write lock that lines its readers up on one snapshot.
        self._lining_up = asyncio.Lock()

    async def count(self, period: Period) -> int:
        """Orders in the period, counted on the (created_at, id) index: one statement, as every single read."""
        where, params = _where(period, after_key=False)
        sql = f"SELECT count(*) FROM orders{where}"  # noqa: S608 - the where clause holds placeholders only
        [(count,)] = await self._read(sql, params)
        return int(count)

    async def sample(self, period: Period, dialect: Dialect, size: int) -> EncodedBatch:
        """The first and the last `size // 2` rows of the period, encoded."""
        _, params = _where(period, after_key=False)
        params["size"] = max(size // 2, 1)
        data, rows = b"", 0
        for descending in (False, True):
            sql = batch_sql(period, dialect, after_key=False, descending=descending)
            [(text, count)] = await self._read(sql, params)
            data, rows = data + (text or b""), rows + count
        return EncodedBatch(data, rows)

    async def batches(self, period: Period, dialect: Dialect, size: int) -> AsyncGenerator[EncodedBatch, None]:
        """Every row of the period, `size` rows per batch, from one snapshot.

        SQLite evaluates the encoding without the GIL, so a second connection encodes every other batch on another
        core. It is taken for exports of more than PARALLEL_FROM_BATCHES batches, on a process that may use more
        than one core, and only while it leaves RESERVED_CONNECTIONS of the pool free for other requests: four
        exports at once hold at most eight of the default ten connections, and the one that lines them up on a
        snapshot only for an instant.
        """
        async with database_errors, AsyncExitStack() as stack:
            readers = [await stack.enter_async_context(driver_connection(self._engine))]
            if await self._worth_a_second_reader(period, size):
                readers.append(await stack.enter_async_context(driver_connection(self._engine)))
            await self._open_snapshot(readers, stack)
            starts = _batch_starts(readers[0], period, size)
            async with aclosing(_in_order(readers, starts, period, dialect, size)) as batches:
                async for batch in batches:
                    yield batch

    async def _worth_a_second_reader(self, period: Period, size: int) -> bool:
        if usable_cores() < 2 or free_connections(self._engine) < 1 + RESERVED_CONNECTIONS:
            return False
        where, params = _where(period, after_key=False)
        params["offset"] = PARALLEL_FROM_BATCHES * size
        sql = f"SELECT 1 FROM orders{where} ORDER BY created_at, id LIMIT 1 OFFSET :offset"  # noqa: S608
        return bool(await self._read(sql, params))

    async def _read(self, sql: str, params: dict[str, Any]) -> Any:
        """The rows of one statement on the shared read connection."""
        async with database_errors:
            return await run_read(self._engine, lambda driver: driver.execute_fetchall(sql, params))

    async def _open_snapshot(self, readers: list[Any], stack: AsyncExitStack) -> None:
        """Open a read transaction on every reader, all on the same last commit; each ends before its reader returns."""
        if len(readers) == 1:
            await _begin_reading(readers[0], stack)
            return
        # While one connection holds the write lock nothing can commit, so the readers that start reading
        # meanwhile all see the same last commit.
        async with self._lining_up, driver_connection(self._engine) as lock:
            await lock.execute("BEGIN IMMEDIATE")
            try:
                for reader in readers:
                    await _begin_reading(reader, stack)
            finally:
                await lock.execute("ROLLBACK")


async def _begin_reading(reader: Any, stack: AsyncExitStack) -> None:
    await reader.execute("BEGIN")
    stack.push_async_callback(reader.execute, "ROLLBACK")
    await reader.execute_fetchall("SELECT 1 FROM orders LIMIT 1")  # a transaction's snapshot starts at its first read


async def _batch_starts(reader: Any, period: Period, size: int) -> AsyncIterator[tuple[str, int] | None]:
    """The key each batch follows, in order: None for the first, which starts at the period's own start."""
    yield None
    start, _ = period.bounds()
    _, following = _where(period, after_key=True)
    # Just before the period's first key: no id is below the smallest 64-bit integer, no timestamp below ''.
    last: tuple[str, int] = (start or "", _SMALLEST_ID)
    sql = starts_sql(period)
    while True:
        params = {**following, "size": size, "count": _STARTS_PER_READ, "last_created_at": last[0], "last_id": last[1]}
        keys = await reader.execute_fetchall(sql, params)
        for key in keys:
            yield key
        if len(keys) < _STARTS_PER_READ:
            return
        last = keys[-1]


async def _in_order(
    readers: list[Any], starts: AsyncIterator[tuple[str, int] | None], period: Period, dialect: Dialect, size: int
) -> AsyncGenerator[EncodedBatch, None]:
    """The batches encoded by the readers in turn, yielded in order, with a bounded number encoded ahead."""
    first, following = (batch_sql(period, dialect, after_key=key) for key in (False, True))
    _, opening = _where(period, after_key=False)
    _, after_key = _where(period, after_key=True)
    ahead: deque[asyncio.Future[Any]] = deque()
    try:
        async with aclosing(starts):  # type: ignore[type-var]
            index = 0
            async for key in starts:
                if key is None:
                    sql, params = first, {**opening, "size": size}
                else:
                    sql, params = following, {**after_key, "size": size, "last_created_at": key[0], "last_id": key[1]}
                ahead.append(asyncio.ensure_future(readers[index % len(readers)].execute_fetchall(sql, params)))
                index += 1
                if len(ahead) > _AHEAD_PER_READER * len(readers) and (batch := _batch(await ahead.popleft())):
                    yield batch
        while ahead:
            if batch := _batch(await ahead.popleft()):
                yield batch
    finally:
        for pending in ahead:
            pending.cancel()
        # The statements already handed to the readers' threads finish there, before the ROLLBACK queued behind.
        await asyncio.gather(*ahead, return_exceptions=True)


def _batch(rows: Any) -> EncodedBatch | None:
    [(data, count)] = rows
    return EncodedBatch(data, count) if count else None
