"""ProfilingMiddleware: times every HTTP request, adds timing headers, records into MetricsPort, warns when slow."""

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Final

from litestar.enums import ScopeType

from domain.metrics import UNMATCHED, RequestSample
from domain.ports import Clock, MetricsPort, WallClock
from domain.queueing import queue_seconds

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("perfshop.profiling")


class ProfilingMiddleware:
    """ASGI middleware around the whole Litestar app (its router and exception handling included).

    It wraps the app at the ASGI level, not as a Litestar `middleware=[...]` entry: Litestar builds that stack
    per route, so it never runs for a request that matches no route (404) or no method (405). Here every
    request passes through; the router leaves the matched route's template in `scope["path_template"]`, which
    is read once the response is done. Requests that matched nothing share one `<unmatched>` row, so the
    number of rows stays bounded by the routes whatever paths clients send.

    Timings:
    - `X-Response-Time: 12.34ms` and `Server-Timing: app;dur=12.34` go out with the response headers, so they
      measure the time until the headers were sent: for a streamed body that is before the body.
    - The recorded time runs to the last body byte handed to the server; work the app does after that
      (background tasks) is not counted.
    - For a streamed response (a first body message with `more_body`), the time to its first body byte is
      recorded as well (the `ttfb_*` figures).
    - With `request_start_max_age_s` set (the proxy is trusted), a proxy's `X-Request-Start` gives the request's
      queue time, recorded with it; each request is counted in the app from its start to its end (`in_flight`).
    """

    def __init__(
        self,
        app: "ASGIApp",
        *,
        slow_request_ms: float,
        headers: "Sequence[tuple[bytes, bytes]]" = (),
        request_start_max_age_s: float | None = None,
    ) -> None:
        self._app = app
        self._headers = tuple(headers)  # constant headers of every response, added with the timing ones
        self._slow_s = slow_request_ms / 1000
        # None: X-Request-Start is not trusted (a client could forge its own queue time), and never read.
        self._max_age_s = request_start_max_age_s
        self._resolved: tuple[MetricsPort, Callable[[], float], Callable[[], float]] | None = None

    def start(self, metrics: MetricsPort, clock: Clock, wall_clock: WallClock) -> None:
        """Record into `metrics`, timed by `clock`, queue times read on `wall_clock`; the app calls it at
        start-up, before any request."""
        # The bound call itself: for the real clock that is the C function, read four times per request.
        self._resolved = (metrics, clock.__call__, wall_clock.__call__)

    async def __call__(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        """Time one request; other scope types pass through untouched."""
        if scope["type"] != _HTTP:
            await self._app(scope, receive, send)
            return
        assert self._resolved is not None, "ProfilingMiddleware.start() runs at start-up"
        metrics, now, wall = self._resolved
        started = now()
        metrics.enter()
        max_age_s = self._max_age_s
        queue = None if max_age_s is None else self._queue(scope["headers"], wall(), max_age_s, metrics)
        status = 500
        first_body: float | None = None
        last_body: float | None = None

        async def timed_send(message: "Message") -> None:
            nonlocal status, first_body, last_body
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send(message)
                    last_body = now()
                    return
                if first_body is None:
                    first_body = now()  # a streamed body: its first chunk is the time to first byte
            elif message["type"] == "http.response.start":
                status = message["status"]
                took = b"%.2f" % ((now() - started) * 1000)
                headers = [
                    *message.get("headers", ()),
                    *self._headers,
                    (b"x-response-time", took + b"ms"),
                    (b"server-timing", b"app;dur=" + took),
                ]
                message = {**message, "headers": headers}  # a copy: the app may reuse its message
            await send(message)

        try:
            await self._app(scope, receive, timed_send)
        finally:
            seconds = (now() if last_body is None else last_body) - started
            template = scope.get("path_template")
            endpoint = f"{scope['method']} {template}" if template else UNMATCHED
            ttfb = None if first_body is None else first_body - started
            metrics.record(RequestSample(endpoint, status, seconds, ttfb, queue))
            if seconds > self._slow_s:
                logger.warning(
                    "slow request: %s answered %d in %.1f ms (threshold %.0f ms)",
                    endpoint,
                    status,
                    seconds * 1000,
                    self._slow_s * 1000,
                )

    def _queue(
        self, headers: "Iterable[tuple[bytes, bytes]]", now: float, max_age_s: float, metrics: MetricsPort
    ) -> float | None:
        """The wait since the proxy received the request (`X-Request-Start`, or `X-Queue-Start`), if it says."""
        for name, value in headers:
            if name in _REQUEST_START:
                waited = queue_seconds(value, now, max_age_s)
                if isinstance(waited, float):
                    return waited
                metrics.reject_request_start(waited)
                return None
        return None


_REQUEST_START = (b"x-request-start", b"x-queue-start")
_HTTP: Final = ScopeType.HTTP  # read once: reading an enum's member costs more than the whole comparison
