"""Orders streamed out of SQLite, each batch encoded by SQLite itself into the domain's export format."""

from collections.abc import AsyncGenerator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.orders import FORMULA_STARTS, QUOTE_TRIGGERS, Dialect, EncodedBatch, Period
from domain.ports import OrderStreamPort
from infrastructure.sqla.engine import run_read
from infrastructure.sqla.errors import database_errors

# Characters that the id, quantity, price and timestamp columns can contain: a delimiter among them forces
# quotes on those columns too, so that only then do they pay for the check.
_NUMERIC_CHARS = frozenset("0123456789.-: ")


def _literal(char: str) -> str:
    """One character as an SQL expression."""
    if char == "'":
        return "''''"
    return f"'{char}'" if char.isprintable() else f"char({ord(char)})"


def _text_field(column: str, dialect: Dialect) -> str:
    """SQL that encodes a text column exactly as `domain.orders.encode_field(..., guard=True)`."""
    needs_quotes = " OR ".join(f"instr({column}, {_literal(c)})" for c in (dialect.delimiter, *QUOTE_TRIGGERS))
    quoted = f"""'"' || replace({column}, '"', '""') || '"'"""
    if not dialect.formula_guard:
        return f"CASE WHEN {needs_quotes} THEN {quoted} ELSE {column} END"
    starts = "".join(FORMULA_STARTS).replace("-", "") + "-"  # '-' last: a literal inside a GLOB class
    # The guard's own quote needs quoting when the delimiter is a quote mark.
    guarded_needs = "1" if dialect.delimiter == "'" else needs_quotes
    guarded_quoted = f"""'"''' || replace({column}, '"', '""') || '"'"""
    return (
        f"CASE WHEN {column} GLOB '[{starts}]*' THEN "
        f"CASE WHEN {guarded_needs} THEN {guarded_quoted} ELSE '''' || {column} END "
        f"WHEN {needs_quotes} THEN {quoted} ELSE {column} END"
    )


def _plain_field(spec: str, expr: str, dialect: Dialect) -> tuple[str, str]:
    """A printf spec and argument for a number or timestamp, quoted only if the delimiter can occur in it."""
    if dialect.delimiter not in _NUMERIC_CHARS:
        return spec, expr
    text = f"printf('{spec}', {expr})"
    return "%s", f"""CASE WHEN instr({text}, {_literal(dialect.delimiter)}) THEN '"' || {text} || '"' ELSE {text} END"""


def row_sql(dialect: Dialect) -> str:
    """SQL for one row's encoded line, LF included: one printf per row keeps SQLite's work small."""
    fields = [
        _plain_field("%d", "id", dialect),
        ("%s", _text_field("customer_name", dialect)),
        ("%s", _text_field("product", dialect)),
        _plain_field("%d", "quantity", dialect),
        _plain_field("%.2f", "unit_price", dialect),
        ("%s", _text_field("status", dialect)),
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
    """One batch: the encoded lines concatenated in (created_at, id) order, their count and the last key."""
    where, _ = _where(period, after_key=after_key)
    order = "created_at DESC, id DESC" if descending else "created_at, id"
    # SQLite 3.40 has no ORDER BY inside aggregates; group_concat takes the rows in the order the ordered,
    # limited subquery yields them (the byte-for-byte tests pin this). The key is zero-padded so that max()
    # on the text is max() on (created_at, id).
    return (
        "SELECT group_concat(line, ''), count(*), max(created_at || printf('%020d', id)) "  # noqa: S608
        f"FROM (SELECT {row_sql(dialect)} AS line, created_at, id FROM orders{where} "
        f"ORDER BY {order} LIMIT :size)"
    )


class SqliteOrderStream(OrderStreamPort):
    """OrderStreamPort on SQLite: SQL-side encoding and keyset batches inside one read transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def count(self, period: Period) -> int:
        """Orders in the period, counted on the (created_at, id) index: one statement, as every single read."""
        where, params = _where(period, after_key=False)
        sql = f"SELECT count(*) FROM orders{where}"  # noqa: S608 - the where clause holds placeholders only
        async with database_errors:
            rows = await run_read(self._engine, lambda driver: driver.execute_fetchall(sql, params))
        return int(rows[0][0])

    async def sample(self, period: Period, dialect: Dialect, size: int) -> EncodedBatch:
        """The first and the last `size // 2` rows of the period, encoded."""
        _, params = _where(period, after_key=False)
        params["size"] = max(size // 2, 1)
        data, rows = b"", 0
        async with database_errors, self._engine.connect() as conn:
            for descending in (False, True):
                sql = batch_sql(period, dialect, after_key=False, descending=descending)
                text, count, _ = await _one(conn, sql, params)
                data, rows = data + (text or "").encode(), rows + count
        return EncodedBatch(data, rows)

    async def batches(self, period: Period, dialect: Dialect, size: int) -> AsyncGenerator[EncodedBatch, None]:
        """Every row of the period, `size` rows per batch, from one read transaction (one snapshot)."""
        _, params = _where(period, after_key=False)
        params["size"] = size
        first, following = (batch_sql(period, dialect, after_key=key) for key in (False, True))
        async with database_errors, self._engine.connect() as conn, conn.begin():
            sql = first
            while True:
                text, count, last_key = await _one(conn, sql, params)
                if not count:
                    return
                yield EncodedBatch(text.encode(), count)
                if count < size:
                    return  # a short batch is the last: no query for the empty one after it
                params["last_created_at"], params["last_id"] = last_key[:-20], int(last_key[-20:])
                sql = following


async def _one(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> Any:
    return (await conn.exec_driver_sql(sql, params)).one()
