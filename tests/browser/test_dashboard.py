"""The dashboard in a real headless Chromium against a live server: it shows exact request counts."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import live_server

pytestmark = pytest.mark.server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BROWSER_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def require_chromium() -> None:
    if CHROMIUM.exists() and shutil.which("chromium"):
        return
    reason = "Debian's chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and REQUIRE_SERVICES=1")
    pytest.skip(reason)


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    require_chromium()
    env = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'perfshop.db'}",
        "PERFSHOP_DEMO_ITEMS": "30",
        "PERFSHOP_DEMO_ORDERS": "0",
    }
    with live_server(env) as url:
        yield url


def test_the_dashboard_shows_the_exact_count_of_requests(base_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    requests = 17
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto(f"{base_url}/dashboard")
            expect(page.locator('tr[data-endpoint="GET /dashboard"]')).to_be_visible(timeout=10_000)

            for _ in range(requests):
                assert httpx.get(f"{base_url}/items/1").status_code == 200

            count = page.locator('tr[data-endpoint="GET /items/{item_id}"] td[data-field="count"]')
            expect(count).to_have_text(str(requests), timeout=10_000)
            expect(page.locator("#slowest .bar").first).to_be_visible()
            # One miss, then every request a hit: 16 of 17.
            expect(page.locator("#cache-hit-rate")).to_have_text("94.1 %", timeout=10_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            assert not [url for url in failed if not url.startswith(base_url)]  # nothing fetched from elsewhere
        finally:
            browser.close()
