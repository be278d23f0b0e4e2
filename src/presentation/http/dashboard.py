"""The live dashboard: one HTML page with its script and styles, all served by this app (works offline)."""

from pathlib import Path
from typing import Annotated, Any

from dishka import FromDishka
from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body
from litestar.response import File, Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from presentation.http.auth import METRICS_COOKIE, may_view_metrics, token_matches
from presentation.http.di import inject
from presentation.settings import Settings

_STATIC = Path(__file__).parent / "static"
# Only this app's own script, styles and fetches; no inline script, no framing.
STRICT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
}


def _asset(name: str, media_type: str) -> File:
    return File(
        _STATIC / name,
        media_type=f"{media_type}; charset=utf-8",
        content_disposition_type="inline",
        headers=STRICT_HEADERS,
    )


@get("/dashboard", tags=["metrics"], include_in_schema=False)
@inject
async def dashboard(request: Request[Any, Any, Any], settings: FromDishka[Settings]) -> File:
    """The dashboard page (it polls /metrics once a second), or its sign-in form while a token is required."""
    if may_view_metrics(request, settings.metrics_token):
        return _asset("dashboard.html", "text/html")
    return _asset("login.html", "text/html")


@post("/dashboard/session", include_in_schema=False)
@inject
async def sign_in(
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)], settings: FromDishka[Settings]
) -> Redirect:
    """Check the metrics token from the sign-in form and keep it in an HttpOnly, SameSite=Strict cookie."""
    if settings.metrics_token is None or not token_matches(data.get("token"), settings.metrics_token):
        raise NotAuthorizedException("wrong metrics token", headers={"WWW-Authenticate": "Bearer"})
    cookie = Cookie(key=METRICS_COOKIE, value=settings.metrics_token, httponly=True, samesite="strict", path="/")
    return Redirect("/dashboard", status_code=HTTP_303_SEE_OTHER, cookies=[cookie])


@get("/dashboard/dashboard.js", include_in_schema=False)
async def dashboard_script() -> File:
    """The dashboard's script (external, so that the Content-Security-Policy can forbid inline script)."""
    return _asset("dashboard.js", "text/javascript")


@get("/dashboard/dashboard.css", include_in_schema=False)
async def dashboard_styles() -> File:
    """The dashboard's styles."""
    return _asset("dashboard.css", "text/css")
