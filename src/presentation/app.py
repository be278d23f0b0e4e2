# 실행 방법: uv run perfshop serve
"""The composition root: builds the Litestar app from settings and dishka providers."""

import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence

from dishka import AsyncContainer, Provider, make_async_container
from litestar import Litestar, Router
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine

from application.items import CachedItems
from application.metrics import PublishMetrics, SampleLoopLag
from domain.caching import CacheTtls
from domain.errors import DomainError
from domain.ports import Clock, MetricsPort, WallClock
from infrastructure.process import SignalShutdown
from infrastructure.sqla.engine import prepare_database
from presentation.http.auth import admin_only, metrics_viewers
from presentation.http.cache import CacheAdminController, CacheController
from presentation.http.cached_reads import CachedReads
from presentation.http.dashboard import dashboard, dashboard_script, dashboard_styles, sign_in
from presentation.http.di import AppScoped, current_app_scoped
from presentation.http.errors import client_error_handler, domain_error_handler, internal_error_handler
from presentation.http.export import ExportController
from presentation.http.health import health
from presentation.http.items import ItemController
from presentation.http.metrics import MetricsController
from presentation.http.profiling import ProfilingMiddleware
from presentation.http.slow import SlowController
from presentation.ioc import providers_for
from presentation.settings import Settings, SettingsError, load_settings

logger = logging.getLogger("perfshop")


def settings_from_environment() -> Settings:
    """The settings of this process, or exit with one line naming the bad variable."""
    try:
        return load_settings(os.environ)
    except SettingsError as error:
        sys.exit(f"perfshop: {error}")


def configure_logging(level: str) -> None:
    """Operator-facing logs on stderr, in the brief's `[LEVEL] message` style."""
    logging.basicConfig(format="%(asctime)s [%(levelname)s] %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("perfshop").setLevel(level)


# On every response, errors and unmatched paths included.
EVERY_RESPONSE_HEADERS = ((b"x-content-type-options", b"nosniff"),)


def create_app(*overrides: Provider, settings: Settings | None = None) -> Litestar:
    """The perfshop app; `overrides` replace providers (tests swap adapters this way)."""
    settings = settings or settings_from_environment()
    configure_logging(settings.log_level)
    container = make_async_container(*providers_for(settings), *overrides, context={Settings: settings})

    async def prepare() -> None:
        # Chained in front of the server's own handlers, which still drain the connections as usual.
        (await container.get(SignalShutdown)).install()
        engine = await container.get(AsyncEngine)
        if await prepare_database(engine, demo_items=settings.demo_items, demo_orders=settings.demo_orders):
            logger.info("seeded demo data: %s items, %s orders", settings.demo_items, settings.demo_orders)

    background: list[asyncio.Task[None]] = []
    publishers: list[PublishMetrics] = []

    async def start_publishing() -> None:
        publish = await container.get(PublishMetrics)
        publishers.append(publish)
        background.append(asyncio.create_task(publish_every(publish, settings.metrics_publish_s)))

    async def start_sampling() -> None:
        background.append(asyncio.create_task((await container.get(SampleLoopLag))()))

    async def stop_background() -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)

    async def leave_cluster() -> None:
        # After the last request and publication: the cluster's totals keep this process's final counters.
        for publish in publishers:
            await publish.leave()

    async def close() -> None:
        await container.close()

    app = Litestar(
        route_handlers=[
            ItemController,
            CacheController,
            Router("/", route_handlers=[CacheAdminController], guards=[admin_only(settings.admin_token)]),
            ExportController,
            health,
            Router("/", route_handlers=[MetricsController], guards=[metrics_viewers(settings.metrics_token)]),
            SlowController,
            dashboard,
            sign_in,
            dashboard_script,
            dashboard_styles,
        ],
        on_startup=[prepare],
        on_shutdown=[stop_background, leave_cluster, close],
        exception_handlers={
            DomainError: domain_error_handler,
            HTTPException: client_error_handler,
            HTTP_500_INTERNAL_SERVER_ERROR: internal_error_handler,
        },
        openapi_config=OpenAPIConfig(title="perfshop", version="0.1.0", path="/schema"),
        request_max_body_size=settings.max_body_bytes,
    )
    app.state.dishka_container = container  # where dishka's integrations, and tests, look for it
    # Cached item reads are answered in front of the router; the layers around it time them and add the headers.
    cached_reads = CachedReads(app.asgi_handler)

    async def start_cached_reads() -> None:
        cached_reads.start(await container.get(CachedItems), await container.get(CacheTtls))

    app.on_startup.append(start_cached_reads)
    # The outermost layer adds the headers every response carries (errors and unmatched paths included).
    if settings.profiling:
        # Around Litestar's router and exception handling, so that 404s and 405s are timed too.
        profiler = ProfilingMiddleware(
            with_app_container(cached_reads, container),
            slow_request_ms=settings.slow_request_ms,
            headers=EVERY_RESPONSE_HEADERS,
            request_start_max_age_s=settings.request_start_max_age_s if settings.trust_request_start else None,
        )
        app.asgi_handler = profiler

        async def start_profiling() -> None:
            profiler.start(await container.get(MetricsPort), await container.get(Clock), await container.get(WallClock))

        app.on_startup.append(start_profiling)
        app.on_startup.append(start_sampling)
        if settings.redis_url is not None:
            app.on_startup.append(start_publishing)
    else:
        app.asgi_handler = with_headers(with_app_container(cached_reads, container), EVERY_RESPONSE_HEADERS)
    app.on_startup.append(freeze_heap)
    app.on_shutdown.append(thaw_heap)
    return app


async def freeze_heap() -> None:
    """Keep what start-up built out of the cyclic garbage collector's full passes."""
    # It lives as long as the app, yet each full pass walked all of it: under load one came every few seconds and
    # stalled the event loop for 35-70 ms (loop-lag p99 35 ms). No collection first: start-up leaves little garbage,
    # and a full pass here would cost every start (and every test's app) its own tens of ms.
    gc.freeze()


async def thaw_heap() -> None:
    """Give the objects kept out of full passes back to the collector, once the app is done with them."""
    gc.unfreeze()


def with_app_container(app: ASGIApp, container: AsyncContainer) -> ASGIApp:
    """Let `@inject` reach this app's objects while it serves a request."""
    app_scoped = AppScoped(container)

    async def set_app(scope: Scope, receive: Receive, send: Send) -> None:
        token = current_app_scoped.set(app_scoped)
        try:
            await app(scope, receive, send)
        finally:
            current_app_scoped.reset(token)

    return set_app


def with_headers(app: ASGIApp, headers: Sequence[tuple[bytes, bytes]]) -> ASGIApp:
    """Add `headers` to every response: tuples added here rather than a Litestar `before_send` hook that parses
    the headers of every response. With profiling on, the profiler adds them with its own instead."""

    async def add_headers(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *headers]}  # a copy: it may be reused
            await send(message)

        await app(scope, receive, send_with_headers)

    return add_headers


async def publish_every(publish: PublishMetrics, interval_s: float) -> None:
    """Publish this process's metrics state now and then every `interval_s`, until cancelled."""
    while True:
        await publish()
        # Python 3.11's asyncio.wait_for, inside the Redis client, loses a cancellation that arrives as the call it
        # waits for completes; the request stays noted on the task, so honour it here, or shutdown would wait forever.
        if (task := asyncio.current_task()) is not None and task.cancelling():
            raise asyncio.CancelledError
        await asyncio.sleep(interval_s)
