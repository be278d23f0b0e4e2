"""Bearer-token guards: admin operations, and the metrics pages when PERFSHOP_METRICS_TOKEN is set."""

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from presentation.settings import Settings

# The dashboard's own fetches carry the metrics token in this cookie (HttpOnly, SameSite=Strict).
METRICS_COOKIE = "perfshop_metrics"


def token_matches(presented: str | None, expected: str) -> bool:
    """Compare in constant time, so that response timing reveals nothing about the expected token."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if any."""
    scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


async def _settings(connection: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    settings: Settings = await connection.app.state.dishka_container.get(Settings)
    return settings


def _unauthorized(message: str) -> NotAuthorizedException:
    return NotAuthorizedException(message, headers={"WWW-Authenticate": "Bearer"})


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Let through only `Authorization: Bearer <PERFSHOP_ADMIN_TOKEN>`; 403 while no token is configured."""
    settings = await _settings(connection)
    if settings.admin_token is None:
        raise PermissionDeniedException("admin operations are disabled: PERFSHOP_ADMIN_TOKEN is not set")
    if not token_matches(bearer_token(connection), settings.admin_token):
        raise _unauthorized("a valid admin bearer token is required")


def may_view_metrics(connection: ASGIConnection[Any, Any, Any, Any], expected: str | None) -> bool:
    """Open while no metrics token is set; otherwise its bearer token or the dashboard's cookie."""
    return expected is None or (
        token_matches(bearer_token(connection), expected)
        or token_matches(connection.cookies.get(METRICS_COOKIE), expected)
    )


async def metrics_viewers(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the metrics endpoints: 401 with `WWW-Authenticate: Bearer` without the metrics token."""
    if not may_view_metrics(connection, (await _settings(connection)).metrics_token):
        raise _unauthorized("the metrics token is required (bearer token, or sign in at /dashboard)")
