"""The live dashboard: one HTML page with its script and styles, all served by this app (works offline)."""

from pathlib import Path

from litestar import get
from litestar.response import File

_STATIC = Path(__file__).parent / "static"


def _asset(name: str, media_type: str) -> File:
    return File(_STATIC / name, media_type=f"{media_type}; charset=utf-8", content_disposition_type="inline")


@get("/dashboard", tags=["metrics"], include_in_schema=False)
async def dashboard() -> File:
    """The dashboard page; it polls /metrics once a second."""
    return _asset("dashboard.html", "text/html")


@get("/dashboard/dashboard.js", include_in_schema=False)
async def dashboard_script() -> File:
    """The dashboard's script (external, so a strict Content-Security-Policy can forbid inline script)."""
    return File(
        _STATIC / "dashboard.js", media_type="text/javascript; charset=utf-8", content_disposition_type="inline"
    )


@get("/dashboard/dashboard.css", include_in_schema=False)
async def dashboard_styles() -> File:
    """The dashboard's styles."""
    return _asset("dashboard.css", "text/css")
