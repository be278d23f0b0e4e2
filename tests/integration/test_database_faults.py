"""PostgreSQL going away under the running app: 503 with Retry-After, never a 500, recovery by itself, and a
read (never a write) repeated once when the pool hands out a connection the server has closed."""

from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from domain.errors import Unavailable
from domain.items import ItemPatch, NewItem
from infrastructure.sqla.engine import make_engine
from infrastructure.sqla.items import SqlaItemRepository
from presentation.app import create_app
from presentation.settings import Settings
from tests.proxy import CuttableProxy
from tests.services import empty_postgres_tables, postgres_value

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[CuttableProxy]:
    """A cuttable path from the app to this run's PostgreSQL database."""
    url = make_url(postgres_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    yield proxy
    proxy.close()


async def test_a_lost_database_is_503_and_the_service_recovers(postgres_url: str, proxy: CuttableProxy) -> None:
    through_proxy = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(database_url=through_proxy.render_as_string(hide_password=False), demo_items=0, demo_orders=0)
    async with AsyncTestClient(app=create_app(settings=settings)) as client:
        created = (await client.post("/items", json={"name": "Kettle", "price": 30})).json()

        proxy.cut()
        down = [
            await client.get(f"/items/{created['id']}"),
            await client.post("/items", json={"name": "x", "price": 1}),
        ]
        health = await client.get("/health")

        proxy.start()
        back = await client.get(f"/items/{created['id']}")

    for response in down:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["status_code"] == 503
    assert health.status_code == 503
    assert health.json() == {"status": "degraded", "database": "unreachable"}
    assert back.status_code == 200
    assert back.json() == created


@pytest.fixture
async def repository(postgres_url: str) -> AsyncIterator[SqlaItemRepository]:
    """Items on this run's database through a pool of one connection, so that the test knows which one it kills."""
    await empty_postgres_tables(postgres_url)
    engine = make_engine(postgres_url, pool_size=1)
    yield SqlaItemRepository(engine)
    await engine.dispose()


async def kill_pooled_connections(postgres_url: str) -> int:
    """Terminate every other session on the run's database (the pool's idle connection), waiting until it is gone."""
    return int(
        await postgres_value(
            postgres_url,
            "SELECT count(pg_terminate_backend(pid, 30000)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
    )


async def test_a_read_on_a_dead_pooled_connection_is_retried_on_a_fresh_one(
    repository: SqlaItemRepository, postgres_url: str
) -> None:
    item = await repository.add(NewItem(name="lamp", price=2))
    assert await kill_pooled_connections(postgres_url) == 1
    assert await repository.get(item.id) == item
    assert (await repository.page(1, 10)).items == (item,)


async def test_a_write_on_a_dead_connection_is_503_and_stored_at_most_once(
    repository: SqlaItemRepository, postgres_url: str
) -> None:
    item = await repository.add(NewItem(name="lamp", price=2))
    assert await kill_pooled_connections(postgres_url) == 1
    with pytest.raises(Unavailable):
        await repository.add(NewItem(name="kettle", price=3))
    # Never retried: the dead connection was discarded, so the next write runs on a fresh one.
    await repository.update(item.id, ItemPatch(name="bulb"))
    names = [stored.name for stored in (await repository.page(1, 10)).items]
    assert names in (["bulb"], ["bulb", "kettle"])
