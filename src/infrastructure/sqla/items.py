"""Items stored through the engine's pool, each call one statement on the driver connection, committed as it ends."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.ports import ItemRepository
from infrastructure.sqla.engine import driver_connection, is_sqlite, run_read
from infrastructure.sqla.errors import database_errors

# Each statement is written once in PostgreSQL's numbered style; SQLite reads `?1` for `$1`. One statement per call
# costs one hand-off to aiosqlite's thread or one round trip to PostgreSQL: no BEGIN, no separate fetch, no
# rollback on return to the pool. A single statement is atomic on both engines, a write durable once it returns.
_COLUMNS = "id, name, description, price, stock, created_at, updated_at"
_GET = f"SELECT {_COLUMNS} FROM items WHERE id = $1"  # noqa: S608 - constant text, values are bound
# The count and the page in one statement, so that they agree; the outer join keeps the count when the page is empty.
_PAGE = (
    f"SELECT total.n, page.* FROM (SELECT count(*) AS n FROM items) AS total "  # noqa: S608
    f"LEFT JOIN (SELECT {_COLUMNS} FROM items ORDER BY id LIMIT $1 OFFSET $2) AS page ON 1 = 1 ORDER BY page.id"
)
_ADD = (
    "INSERT INTO items (name, description, price, stock, created_at, updated_at) "  # noqa: S608
    f"VALUES ($1, $2, $3, $4, $5, $5) RETURNING {_COLUMNS}"
)
_DELETE = "DELETE FROM items WHERE id = $1 RETURNING id"
_FIELDS = ("name", "description", "price", "stock")


@lru_cache(maxsize=len(_FIELDS) ** 2)
def _update_sql(fields: tuple[str, ...]) -> str:
    """An UPDATE of these fields and `updated_at`, written once per combination of fields."""
    assignments = ", ".join(["updated_at = $2", *(f"{field} = ${at}" for at, field in enumerate(fields, start=3))])
    return f"UPDATE items SET {assignments} WHERE id = $1 RETURNING {_COLUMNS}"  # noqa: S608


@lru_cache(maxsize=32)
def _in_sqlite_style(sql: str) -> str:
    """The statement with SQLite's `?1` in place of `$1`."""
    return sql.replace("$", "?")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SqlaItemRepository(ItemRepository):
    """ItemRepository on the `items` table; a read on a connection found dead is retried once, a write never."""

    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] = _utc_now) -> None:
        self._engine = engine
        self._now = now
        self._sqlite = is_sqlite(engine)

    async def get(self, item_id: int) -> Item | None:
        """The item with this id, if any."""
        rows = await self._read(_GET, item_id)
        return self._item(rows[0]) if rows else None

    async def page(self, page: int, size: int) -> ItemPage:
        """Items of one page in id order and the total, read by one statement."""
        rows = await self._read(_PAGE, size, (page - 1) * size)
        found = tuple(self._item(row[1:]) for row in rows if row[1] is not None)
        return ItemPage(items=found, page=page, size=size, total=rows[0][0])

    async def add(self, new: NewItem) -> Item:
        """Insert and return the stored item."""
        rows = await self._write(_ADD, new.name, new.description, self._price(new.price), new.stock, self._stamp())
        return self._item(rows[0])

    async def replace(self, item_id: int, new: NewItem) -> Item | None:
        """Overwrite every client-owned field; None when the item does not exist."""
        return await self._update(item_id, {field: getattr(new, field) for field in _FIELDS})

    async def update(self, item_id: int, patch: ItemPatch) -> Item | None:
        """Overwrite the fields the patch carries; None when the item does not exist."""
        return await self._update(item_id, patch.changes())

    async def delete(self, item_id: int) -> bool:
        """Delete; False when there was nothing to delete."""
        return bool(await self._write(_DELETE, item_id))

    async def _update(self, item_id: int, values: dict[str, object]) -> Item | None:
        fields = tuple(field for field in _FIELDS if field in values)
        bound = [self._price(values[field]) if field == "price" else values[field] for field in fields]  # type: ignore[arg-type]
        rows = await self._write(_update_sql(fields), item_id, self._stamp(), *bound)
        return self._item(rows[0]) if rows else None

    async def _read(self, sql: str, *params: object) -> Sequence[Sequence[Any]]:
        async with database_errors:
            return await run_read(self._engine, lambda driver: self._run(driver, sql, params))

    async def _write(self, sql: str, *params: object) -> Sequence[Sequence[Any]]:
        # Never repeated: a write whose connection died may have committed, and a second one would store it twice.
        async with database_errors, driver_connection(self._engine) as driver:
            return await self._run(driver, sql, params)

    async def _run(self, driver: Any, sql: str, params: tuple[object, ...]) -> Sequence[Sequence[Any]]:
        if self._sqlite:
            return await driver.execute_fetchall(_in_sqlite_style(sql), params)  # type: ignore[no-any-return]
        return await driver.fetch(sql, *params)  # type: ignore[no-any-return]

    def _stamp(self) -> object:
        """Now as the engine stores it: naive UTC, as text in SQLAlchemy's format on SQLite."""
        naive = self._now().astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(sep=" ", timespec="microseconds") if self._sqlite else naive

    def _price(self, price: float) -> object:
        return price if self._sqlite else Decimal(repr(price))

    def _item(self, row: Sequence[Any]) -> Item:
        created, updated = row[5], row[6]
        if self._sqlite:
            created, updated = datetime.fromisoformat(created), datetime.fromisoformat(updated)
        return Item(
            id=row[0],
            name=row[1],
            description=row[2],
            price=float(row[3]),
            stock=row[4],
            created_at=created.replace(tzinfo=UTC),
            updated_at=updated.replace(tzinfo=UTC),
        )
