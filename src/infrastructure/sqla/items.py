"""Items stored through SQLAlchemy Core, one committed transaction per call."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.items import Item, ItemPage, ItemPatch, NewItem
from domain.ports import ItemRepository
from infrastructure.sqla.errors import database_errors
from infrastructure.sqla.tables import items

_COLUMNS = (
    items.c.id,
    items.c.name,
    items.c.description,
    items.c.price,
    items.c.stock,
    items.c.created_at,
    items.c.updated_at,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _item(row: Row[Any, Any, Any, Any, Any, Any, Any]) -> Item:
    return Item(
        id=row.id,
        name=row.name,
        description=row.description,
        price=float(row.price),
        stock=row.stock,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlaItemRepository(ItemRepository):
    """ItemRepository on the `items` table; writes use RETURNING so that each is one statement."""

    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] = _utc_now) -> None:
        self._engine = engine
        self._now = now

    async def get(self, item_id: int) -> Item | None:
        """The item with this id, if any."""
        async with database_errors, self._engine.connect() as conn:
            row = (await conn.execute(select(*_COLUMNS).where(items.c.id == item_id))).first()
        return None if row is None else _item(row)

    async def page(self, page: int, size: int) -> ItemPage:
        """Items of one page in id order and the total, read in one transaction."""
        query = select(*_COLUMNS).order_by(items.c.id).limit(size).offset((page - 1) * size)
        async with database_errors, self._engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            total = (await conn.execute(select(func.count()).select_from(items))).scalar_one()
        return ItemPage(items=tuple(_item(row) for row in rows), page=page, size=size, total=total)

    async def add(self, new: NewItem) -> Item:
        """Insert and return the stored item."""
        now = self._now()
        values = {**_fields(new), "created_at": now, "updated_at": now}
        async with database_errors, self._engine.begin() as conn:
            row = (await conn.execute(insert(items).values(values).returning(*_COLUMNS))).one()
        return _item(row)

    async def replace(self, item_id: int, new: NewItem) -> Item | None:
        """Overwrite every client-owned field; None when the item does not exist."""
        return await self._update(item_id, _fields(new))

    async def update(self, item_id: int, patch: ItemPatch) -> Item | None:
        """Overwrite the fields the patch carries; None when the item does not exist."""
        return await self._update(item_id, patch.changes())

    async def delete(self, item_id: int) -> bool:
        """Delete; False when there was nothing to delete."""
        async with database_errors, self._engine.begin() as conn:
            result = await conn.execute(delete(items).where(items.c.id == item_id))
        return bool(result.rowcount)

    async def _update(self, item_id: int, values: dict[str, object]) -> Item | None:
        statement = (
            update(items)
            .where(items.c.id == item_id)
            .values({**values, "updated_at": self._now()})
            .returning(*_COLUMNS)
        )
        async with database_errors, self._engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _item(row)


def _fields(new: NewItem) -> dict[str, object]:
    return {"name": new.name, "description": new.description, "price": new.price, "stock": new.stock}
