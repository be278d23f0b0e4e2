"""Aggregates over the `orders` table."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.order_stats import StatusTotal
from domain.ports import OrderStatsPort
from infrastructure.sqla.errors import database_errors
from infrastructure.sqla.tables import orders


class SqlaOrderStats(OrderStatsPort):
    """OrderStatsPort as one GROUP BY over every order: a full scan, so it takes real time on a large table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def totals_by_status(self) -> list[StatusTotal]:
        """Orders and revenue per status, by status name."""
        revenue = func.coalesce(func.sum(orders.c.quantity * orders.c.unit_price), 0)
        query = select(orders.c.status, func.count(), revenue).group_by(orders.c.status).order_by(orders.c.status)
        async with database_errors, self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            StatusTotal(status=status, orders=count, revenue=round(float(total), 2)) for status, count, total in rows
        ]
