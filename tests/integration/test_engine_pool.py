"""The database pool keeps a fixed number of connections: requests beyond it wait for one instead of opening more."""

import asyncio
from typing import Any

from sqlalchemy import event

from domain.items import ItemPatch, NewItem
from infrastructure.sqla.engine import create_schema, make_engine
from infrastructure.sqla.items import SqlaItemRepository


async def test_more_concurrent_calls_than_connections_all_succeed_on_the_pool(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=2)
    connections_opened = 0

    @event.listens_for(engine.sync_engine, "connect")
    def _count(*_: Any) -> None:
        nonlocal connections_opened
        connections_opened += 1

    try:
        async with engine.begin() as conn:
            await create_schema(conn)
        items = SqlaItemRepository(engine)
        created = [await items.add(NewItem(name=f"item {n}", price=1.5, stock=n)) for n in range(12)]

        reads = [items.get(item.id) for item in created]
        writes = [items.update(item.id, ItemPatch(stock=item.stock + 100)) for item in created]
        results = await asyncio.gather(*reads, *writes)

        assert all(result is not None for result in results)
        stored = [await items.get(item.id) for item in created]
        assert [item.stock for item in stored if item is not None] == [n + 100 for n in range(12)]
        assert connections_opened <= 2
    finally:
        await engine.dispose()
