"""PostgreSQL going away under the running app: 503 with Retry-After, never a 500, and recovery by itself."""

from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from presentation.app import create_app
from presentation.settings import Settings
from tests.proxy import CuttableProxy

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
