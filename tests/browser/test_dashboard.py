"""The dashboard in a real headless Chromium against a live server: it shows exact request counts."""

import os
import re
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


def test_the_new_panels_draw_from_live_data_and_the_table_sorts(base_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1200})
            page.goto(f"{base_url}/dashboard")
            for _ in range(5):
                assert httpx.get(f"{base_url}/items/1").status_code == 200
                assert httpx.get(f"{base_url}/items/999999").status_code == 404

            for chart in ("rps-chart", "latency-chart", "errors-chart", "loop-chart"):
                expect(page.locator(f"#{chart}")).to_have_attribute(
                    "data-points", re.compile(r"^[2-9]|\d\d"), timeout=15_000
                )
            expect(page.locator("#loop-lag")).to_have_text(re.compile(r"^\d+\.\d ms$"))
            expect(page.locator("#in-flight")).to_have_text(re.compile(r"^\d+ / \d+$"))
            expect(page.locator("#apdex")).to_have_text(re.compile(r"^[01]\.\d{3}$"))
            expect(page.locator("#latency-endpoint option")).not_to_have_count(0)

            page.click('th[data-sort="count"]')  # descending first
            expect(page.locator("#endpoints th[data-sort=count]")).to_have_attribute("aria-sort", "descending")
            counts = [int(text) for text in page.locator('td[data-field="count"]').all_inner_texts()]
            assert counts == sorted(counts, reverse=True)
            page.click('th[data-sort="count"]')
            expect(page.locator("#endpoints th[data-sort=count]")).to_have_attribute("aria-sort", "ascending")
        finally:
            browser.close()


def crafted_report(*, queue_known: bool) -> dict[str, object]:
    """A /metrics document whose loop ran 50 ms late while its slowest endpoint took 2 ms."""
    window = {"count": 10, "avg_ms": 2.0, "p50_ms": 2.0, "p95_ms": 2.5, "p99_ms": 3.0, "rps": 1.0, "apdex": 1.0}
    endpoint = {
        "count": 10, "avg_ms": 2.0, "min_ms": 1.0, "max_ms": 3.0, "p50_ms": 2.0, "p95_ms": 2.5, "p99_ms": 3.0,
        "status": {"2xx": 10, "3xx": 0, "4xx": 0, "5xx": 0}, "window": window, "apdex": 1.0,
    }  # fmt: skip
    if queue_known:
        endpoint |= {"queue_p50_ms": 40.0, "e2e_p99_ms": 52.0}
    lag = {"samples": 20, "p50": 1.0, "p95": 30.0, "p99": 50.0, "max": 60.0}
    return {
        "endpoints": {"GET /items/{item_id}": endpoint},
        "top_5_slowest": [{"endpoint": "GET /items/{item_id}", "avg_ms": 2.0}],
        "rps": 1.0, "rps_window": 1.0, "uptime_s": 10.0, "window_s": 60, "scope": "local", "processes": 1,
        "cluster_error": None,
        "event_loop": {
            "interval_ms": 50.0, "lag_ms": {**lag, "window": lag}, "in_flight": {"now": 1, "window_max": 64},
        },
        "request_starts_rejected": {"unparseable": 0, "too_old": 0, "in_future": 0},
        "slo": {"availability": {"status": "fast_burn"}, "latency": {"status": "ok"}},
    }  # fmt: skip


@pytest.mark.parametrize("queue_known", [False, True])
def test_a_banner_says_when_the_figures_omit_the_wait_in_front_of_the_app(base_url: str, queue_known: bool) -> None:
    import json

    from playwright.sync_api import Route, expect, sync_playwright

    def fulfil(route: Route) -> None:
        route.fulfill(
            status=200, content_type="application/json", body=json.dumps(crafted_report(queue_known=queue_known))
        )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.route(re.compile(r".*/metrics$"), fulfil)
            page.goto(f"{base_url}/dashboard")
            expect(page.locator("#slo")).to_have_text("availability fast_burn · latency ok", timeout=10_000)
            banner = page.locator("#queue-banner")
            if queue_known:
                expect(banner).to_be_hidden()
            else:
                expect(banner).to_be_visible()
                expect(banner).to_contain_text("omit the wait in front of the app")
                expect(banner).to_contain_text("50.0 ms late")
        finally:
            browser.close()
