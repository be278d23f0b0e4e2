"""The dashboard page is self-contained: its own script and styles, no inline script, nothing from elsewhere."""

import re

from litestar.testing import AsyncTestClient

Client = AsyncTestClient  # type: ignore[type-arg]


async def test_the_page_loads_only_its_own_external_script_and_styles(client: Client) -> None:
    page = await client.get("/dashboard")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.text, flags=re.DOTALL)
    assert scripts == [(' src="/dashboard/dashboard.js" defer', "")]  # no inline script
    assert "<style" not in page.text
    assert 'href="/dashboard/dashboard.css"' in page.text
    assert not re.search(r"\w+://", page.text)  # no absolute URL anywhere


async def test_the_script_and_styles_are_served_with_their_types(client: Client) -> None:
    script = await client.get("/dashboard/dashboard.js")
    styles = await client.get("/dashboard/dashboard.css")

    assert script.headers["content-type"].startswith("text/javascript")
    assert styles.headers["content-type"].startswith("text/css")
    assert 'fetch("/metrics"' in script.text
    assert not re.search(r"\w+://", script.text)  # relative URLs only
