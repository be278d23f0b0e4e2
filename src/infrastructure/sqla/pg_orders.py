"""Orders streamed out of PostgreSQL by `COPY (SELECT ...) TO STDOUT`, encoded by the server in the export format."""

import asyncio
from bisect import bisect_left
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from datetime import datetime
from itertools import accumulate, repeat
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import FORMULA_STARTS, Dialect, EncodedBatch, OrderRow, Period, encode_rows
from domain.ports import OrderStreamPort
from infrastructure.sqla.engine import driver_connection, run_read
from infrastructure.sqla.errors import database_errors

# COPY chunks waiting for the client (each what one socket read brought, at most a few hundred kB), and the
# bytes gathered before they are cut into batches: together the bound on what an export holds in memory.
_QUEUED_CHUNKS = 8
_BATCH_BYTES = 64 * 1024
_COLUMNS = "id, customer_name, product, quantity, unit_price, status, created_at"
# One JSON line as a single column: to_json() on text escapes exactly as the domain's JSON_ESCAPES (the quote, the
# backslash, \b \t \n \f \r, \u00xx in lowercase hex for the other control characters, all else raw), which the
# byte-for-byte tests pin; numeric(12, 2) always has two decimals.
_JSON_LINE = (
    """'{"id":' || id || ',"customer_name":' || to_json(customer_name)::text || ',"product":' """
    """|| to_json(product)::text || ',"quantity":' || quantity || ',"unit_price":' || unit_price """
    """|| ',"status":' || to_json(status)::text || ',"created_at":"' """
    """|| to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"}'"""
)
# A JSON line holds no control character, so COPY's CSV mode with these as quote and delimiter never quotes it.
_JSON_QUOTE, _JSON_DELIMITER = "\x01", "\x02"


# COPY quotes these columns always (FORCE_QUOTE), as `domain.orders.encode_text` does.
_TEXT_COLUMNS = ("customer_name", "product", "status")


def _text_field(column: str, dialect: Dialect) -> str:
    """SQL for a text column with the formula guard applied, named as the column for COPY's FORCE_QUOTE."""
    if not dialect.formula_guard:
        return column
    starts = ", ".join(str(ord(char)) for char in FORMULA_STARTS)
    # Most cells start with a letter, past every formula character: one comparison settles them (10 % faster).
    return (
        f"CASE WHEN ascii({column}) > {max(map(ord, FORMULA_STARTS))} THEN {column} "
        f"WHEN ascii({column}) IN ({starts}) THEN '''' || {column} ELSE {column} END AS {column}"
    )


def copy_sql(dialect: Dialect, where: str, *, descending: bool = False, limit: int | None = None) -> str:
    """The SELECT whose COPY output in CSV mode is the domain's encoding of the rows, in (created_at, id) order."""
    if dialect.format == "jsonl":
        return f"SELECT {_JSON_LINE} FROM orders{where}{_order(descending, limit)}"  # noqa: S608
    fields = (
        "id",
        _text_field("customer_name", dialect),
        _text_field("product", dialect),
        "quantity",
        "unit_price",  # numeric(12, 2): always two decimals
        _text_field("status", dialect),
        "date_trunc('second', created_at)",  # ISO DateStyle (set by the transaction): YYYY-MM-DD HH:MM:SS
    )
    return f"SELECT {', '.join(fields)} FROM orders{where}{_order(descending, limit)}"  # noqa: S608


def _order(descending: bool, limit: int | None) -> str:
    order = " ORDER BY created_at DESC, id DESC" if descending else " ORDER BY created_at, id"
    return order + (f" LIMIT {int(limit)}" if limit is not None else "")


def _where(period: Period) -> tuple[str, list[datetime]]:
    start, end = period.bounds()
    conditions, args = [], []
    if start is not None:
        args.append(datetime.fromisoformat(start))
        conditions.append(f"created_at >= ${len(args)}")
    if end is not None:
        args.append(datetime.fromisoformat(end))
        conditions.append(f"created_at < ${len(args)}")
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", args


def _copy_options(dialect: Dialect) -> dict[str, Any] | None:
    """COPY's CSV-mode options that write this dialect, or None when COPY cannot (a delimiter of several bytes)."""
    if dialect.format == "jsonl":
        return {"format": "csv", "delimiter": _JSON_DELIMITER, "quote": _JSON_QUOTE}
    if len(dialect.delimiter.encode()) != 1:
        return None
    return {"format": "csv", "delimiter": dialect.delimiter, "force_quote": _TEXT_COLUMNS}


def split_records(data: bytes, size: int, quote: bytes = b'"') -> tuple[list[EncodedBatch], bytes]:
    """The whole CSV records at the start of `data` in runs of at most `size`, counted, and the unfinished rest.

    `data` starts at a record. A LF ends a record only outside quotes, that is after an even number of quote
    characters: COPY quotes every field holding a quote or LF and doubles the quotes inside. Splitting on the
    quotes leaves the outside text in the even parts, so that the work stays in C however many rows there are.
    `quote` is the COPY's quote character; for JSON lines it never occurs, so that every LF ends a record.
    """
    parts = data.split(quote)
    ends = list(accumulate(map(bytes.count, parts[::2], repeat(b"\n"))))
    total = ends[-1]
    if not total:
        return [], data
    starts = list(accumulate(map(len, parts), initial=0))
    batches, cut, done = [], 0, 0
    for rows in [*range(size, total, size), total]:
        outside = bisect_left(ends, rows)  # the even part that holds the record end number `rows`
        part_index = 2 * outside
        nth = rows - (ends[outside - 1] if outside else 0)
        part = parts[part_index]
        end = starts[part_index] + part_index + len(part) - len(part.split(b"\n", nth)[-1])
        batches.append(EncodedBatch(data[cut:end], rows - done))
        cut, done = end, rows
    return batches, data[cut:]


async def _copy_into(
    driver: Any, sql: str, args: Sequence[Any], options: dict[str, Any], queue: asyncio.Queue[Any]
) -> None:
    """Run the COPY in one read-only REPEATABLE READ transaction, handing its chunks, then None or the error, over."""
    try:
        async with driver.transaction(isolation="repeatable_read", readonly=True):
            await driver.execute("SET LOCAL DateStyle = ISO")
            await driver.copy_from_query(sql, *args, output=queue.put, **options)
    except Exception as error:  # noqa: BLE001 - handed to the reader, which raises it after the rows before it
        await queue.put(error)
    else:
        await queue.put(None)


async def _copied(
    driver: Any, sql: str, args: Sequence[Any], options: dict[str, Any], size: int
) -> AsyncGenerator[EncodedBatch, None]:
    """The COPY's output cut into batches of whole records; closing it early cancels the COPY on the server."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUED_CHUNKS)
    copy = asyncio.create_task(_copy_into(driver, sql, args, options, queue))
    quote = options.get("quote", '"').encode()
    try:
        pending, finished = b"", False
        while not finished:
            # asyncpg hands over what one socket read brought (often a few kB); fewer, fuller batches cost less
            # per row all the way to the client's socket.
            chunks, held = [pending], len(pending)
            while held < _BATCH_BYTES and not finished:
                chunk = await queue.get()
                if isinstance(chunk, Exception):
                    raise chunk
                finished = chunk is None
                if chunk is not None:
                    chunks.append(chunk)
                    held += len(chunk)
            batches, pending = split_records(b"".join(chunks), size, quote)
            for batch in batches:
                yield batch
    finally:
        # Cancelling the task inside asyncpg's COPY sends the server a cancel request and rolls back, so the
        # connection is idle again before it goes back to the pool.
        copy.cancel()
        await asyncio.wait({copy})


async def _fetched(
    driver: Any, sql: str, args: Sequence[Any], dialect: Dialect, size: int
) -> AsyncGenerator[EncodedBatch, None]:
    """Rows through a cursor encoded by the reference encoder: for delimiters that COPY cannot write."""
    async with driver.transaction(isolation="repeatable_read", readonly=True):
        rows: list[OrderRow] = []
        async for record in driver.cursor(sql, *args, prefetch=size):
            rows.append(OrderRow(record[0], record[1], record[2], record[3], float(record[4]), record[5], record[6]))
            if len(rows) == size:
                yield EncodedBatch(encode_rows(rows, dialect), len(rows))
                rows = []
        if rows:
            yield EncodedBatch(encode_rows(rows, dialect), len(rows))


class PostgresOrderStream(OrderStreamPort):
    """OrderStreamPort on PostgreSQL: one `COPY (SELECT ...) TO STDOUT` per export through asyncpg, one snapshot."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def count(self, period: Period) -> int:
        """Orders in the period."""
        where, args = _where(period)
        sql = f"SELECT count(*) FROM orders{where}"  # noqa: S608
        async with database_errors:
            return int(await run_read(self._engine, lambda driver: driver.fetchval(sql, *args)))

    async def sample(self, period: Period, dialect: Dialect, size: int) -> EncodedBatch:
        """The first and the last `size // 2` rows of the period, encoded."""
        half = max(size // 2, 1)
        data, rows = b"", 0
        for descending in (False, True):
            async for batch in self._encoded(period, dialect, half, descending=descending, limit=half):
                data, rows = data + batch.data, rows + batch.rows
        return EncodedBatch(data, rows)

    async def batches(self, period: Period, dialect: Dialect, size: int) -> AsyncGenerator[EncodedBatch, None]:
        """Every row of the period, at most `size` rows per batch, from one COPY (one snapshot)."""
        async with aclosing(self._encoded(period, dialect, size)) as encoded:
            async for batch in encoded:
                yield batch

    async def _encoded(
        self, period: Period, dialect: Dialect, size: int, *, descending: bool = False, limit: int | None = None
    ) -> AsyncGenerator[EncodedBatch, None]:
        where, args = _where(period)
        async with database_errors, driver_connection(self._engine) as driver:
            options = _copy_options(dialect)
            if options is not None:
                source = _copied(
                    driver, copy_sql(dialect, where, descending=descending, limit=limit), args, options, size
                )
            else:
                plain = f"SELECT {_COLUMNS} FROM orders{where}{_order(descending, limit)}"  # noqa: S608
                source = _fetched(driver, plain, args, dialect, size)
            # Closed here, before the connection goes back to the pool, even when the reader leaves early.
            async with aclosing(source):
                async for batch in source:
                    yield batch
