"""Health check and the OpenAPI document."""

import gc

from litestar.testing import AsyncTestClient

from presentation.app import create_app
from presentation.settings import Settings


async def test_health_reports_the_database(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "reachable"}


async def test_schema_documents_the_error_bodies(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    schema = (await client.get("/schema/openapi.json")).json()
    item = schema["paths"]["/items/{item_id}"]
    assert {"200", "400", "404"} <= set(item["put"]["responses"])
    assert "404" in item["get"]["responses"]
    assert "400" in schema["paths"]["/items"]["get"]["responses"]
    assert "400" in schema["paths"]["/items"]["post"]["responses"]
    html = await client.get("/schema")
    assert html.status_code == 200


async def test_what_start_up_built_is_kept_out_of_full_collections_while_the_app_runs(settings: Settings) -> None:
    # A full pass of the cyclic collector over the whole app stalled the event loop for tens of ms under load.
    app = create_app(settings=settings)
    async with app.lifespan():
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
