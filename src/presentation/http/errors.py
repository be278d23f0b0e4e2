"""One mapping from domain errors to HTTP responses, in Litestar's error shape, for the whole app."""

import logging
import re
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from msgspec import Struct

from domain.errors import DomainError, InvalidInput, NotFound, Overloaded, Unavailable

logger = logging.getLogger("perfshop.errors")


class ErrorBody(Struct, frozen=True):
    """Litestar's error body: status, a message, and what was wrong with each field."""

    status_code: int
    detail: str
    extra: list[dict[str, Any]] = msgspec.field(default_factory=list)


def error_response(status: int, detail: str, extra: list[dict[str, Any]] | None = None) -> Response[ErrorBody]:
    """A JSON error in the app's one error shape."""
    return Response(ErrorBody(status, detail, extra or []), status_code=status, media_type=MediaType.JSON)


def domain_error_handler(_: Request[Any, Any, Any], error: DomainError) -> Response[ErrorBody]:
    """Map a domain error to its status."""
    if isinstance(error, NotFound):
        return error_response(HTTP_404_NOT_FOUND, str(error))
    if isinstance(error, InvalidInput):
        return error_response(HTTP_400_BAD_REQUEST, error.message, [{"key": error.field, "message": error.message}])
    if isinstance(error, Overloaded):
        response = error_response(HTTP_429_TOO_MANY_REQUESTS, str(error))
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, Unavailable):
        response = error_response(HTTP_503_SERVICE_UNAVAILABLE, str(error))
        response.headers["Retry-After"] = "1"
        return response
    return internal_error_handler(_, error)


def client_error_handler(_: Request[Any, Any, Any], error: HTTPException) -> Response[ErrorBody]:
    """Litestar's own 4xx errors, with `extra` always a list that names the bad field."""
    extra = [_name_the_field(entry) for entry in _extra(error.extra)]
    if not extra and error.status_code == HTTP_400_BAD_REQUEST:
        # A body that is not valid JSON at all: the field at fault is the body itself.
        extra = [{"key": "body", "message": error.detail, "source": "body"}]
    response = error_response(error.status_code, error.detail, extra)
    response.headers.update(error.headers or {})
    return response


def _name_the_field(entry: dict[str, Any]) -> dict[str, Any]:
    match = _FIELD_IN_MESSAGE.search(str(entry.get("message", "")))
    return {**entry, "key": match.group(1)} if match and entry.get("key") == "data" else entry


_FIELD_IN_MESSAGE = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def internal_error_handler(request: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
    """Log an unexpected error in full and tell the client nothing internal."""
    if isinstance(error, HTTPException):
        return error_response(error.status_code, error.detail, _extra(error.extra))
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


def _extra(extra: Any) -> list[dict[str, Any]]:
    if isinstance(extra, list):
        return extra
    return [extra] if isinstance(extra, dict) else []


def error_spec(description: str) -> ResponseSpec:
    """OpenAPI documentation of an error response."""
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


NOT_FOUND = {HTTP_404_NOT_FOUND: error_spec("No such resource")}
