"""Security of the public surface: the metrics token, the dashboard's CSP, and headers that cannot be injected."""

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from presentation.app import create_app
from presentation.settings import Settings

Client = AsyncTestClient  # type: ignore[type-arg]
TOKEN = "metrics-token-0123456789"
PROTECTED = ("/metrics", "/metrics/prometheus")


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[Client]:
    """The app with PERFSHOP_METRICS_TOKEN set."""
    async with AsyncTestClient(app=create_app(settings=msgspec.structs.replace(settings, metrics_token=TOKEN))) as c:
        yield c


@pytest.mark.parametrize("path", PROTECTED)
async def test_metrics_need_the_token_when_one_is_set(guarded: Client, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"}):
        refused = await guarded.get(path, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["status_code"] == 401
    assert (await guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200


@pytest.mark.parametrize("path", PROTECTED)
async def test_metrics_are_open_while_no_token_is_set(client: Client, path: str) -> None:
    assert (await client.get(path)).status_code == 200


async def test_the_dashboard_signs_in_with_an_httponly_strict_cookie(guarded: Client) -> None:
    login = await guarded.get("/dashboard")
    assert login.status_code == 200
    assert 'action="/dashboard/session"' in login.text
    assert "/dashboard/dashboard.js" not in login.text  # nothing of the dashboard before signing in

    wrong = await guarded.post("/dashboard/session", data={"token": "not-the-token-at-all"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers

    signed_in = await guarded.post("/dashboard/session", data={"token": TOKEN}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/dashboard"
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie

    page = await guarded.get("/dashboard")  # the client keeps the cookie, as a browser does
    assert "/dashboard/dashboard.js" in page.text
    assert (await guarded.get("/metrics")).status_code == 200  # the page's own fetches carry the cookie


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/dashboard.js", "/dashboard/dashboard.css"])
async def test_the_dashboard_is_served_with_a_strict_content_security_policy(client: Client, path: str) -> None:
    response = await client.get(path)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "params",
    [
        {"year": '2024"\r\nSet-Cookie: evil=1'},
        {"start_date": "2024-01-01\r\nX-Injected: 1"},
        {"format": 'csv"; filename="evil.exe'},
        {"delimiter": "\r"},
    ],
)
async def test_the_download_filename_cannot_be_injected(tmp_path: Path, params: dict[str, str]) -> None:
    # The file name is made from validated parameters only; the database plays no part here.
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", demo_items=0, demo_orders=0)
    async with AsyncTestClient(app=create_app(settings=settings)) as client:
        response = await client.get("/export/orders", params=params)
    assert response.status_code == 400
    assert "content-disposition" not in response.headers
    assert "x-injected" not in response.headers
    assert "set-cookie" not in response.headers
