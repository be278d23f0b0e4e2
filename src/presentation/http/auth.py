"""Bearer-token guards, built from the tokens at start-up: admin operations, and the metrics pages when
PERFSHOP_METRICS_TOKEN is set."""

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

# The dashboard's own fetches carry the metrics token in this cookie (HttpOnly, SameSite=Strict).
METRICS_COOKIE = "perfshop_metrics"


def token_matches(presented: str | None, expected: str) -> bool:
    """Compare in constant time, so that response timing reveals nothing about the expected token."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if any."""
    scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


def _unauthorized(message: str) -> NotAuthorizedException:
    return NotAuthorizedException(message, headers={"WWW-Authenticate": "Bearer"})


def admin_only(admin_token: str | None) -> Guard:
    """A guard that lets through only `Authorization: Bearer <admin_token>`; 403 while no token is configured."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if admin_token is None:
            raise PermissionDeniedException("admin operations are disabled: PERFSHOP_ADMIN_TOKEN is not set")
        if not token_matches(bearer_token(connection), admin_token):
            raise _unauthorized("a valid admin bearer token is required")

    return guard


def may_view_metrics(connection: ASGIConnection[Any, Any, Any, Any], expected: str | None) -> bool:
    """Open while no metrics token is set; otherwise its bearer token or the dashboard's cookie."""
    return expected is None or (
        token_matches(bearer_token(connection), expected)
        or token_matches(connection.cookies.get(METRICS_COOKIE), expected)
    )


def metrics_viewers(metrics_token: str | None) -> Guard:
    """A guard of the metrics endpoints: 401 with `WWW-Authenticate: Bearer` without the metrics token."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not may_view_metrics(connection, metrics_token):
            raise _unauthorized("the metrics token is required (bearer token, or sign in at /dashboard)")

    return guard
