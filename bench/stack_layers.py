# 실행 방법: uv run python bench/stack_layers.py --peers DIR [--rounds 5] [--requests 20000] [--smoke]
"""Where GET /cache/stats spends its microseconds inside the app, layer by layer, beside bare Litestar's GET /stats.

Every contender is an ASGI app called directly in this process (no server, no socket), pinned to one core when
the machine has two: the event loop's thread CPU time (`time.thread_time()`) over `--requests` calls, per call;
rounds rotate the contenders' order and each figure is the median of the rounds. What the server (uvicorn,
httptools) adds per request is the same for every contender and is not in these figures.

The layers are built up from perfshop's own parts, in the order a request meets them from the inside out:
1. Litestar and the use case: a handler that returns `GetCacheStats()` on the in-process cache, no parameter;
2. the `scope` query parameter, declared and validated by Litestar as the real route does;
3. the real `CacheController` with app-scoped `@inject`, under the layers that hand it its app and add
   `X-Content-Type-Options` (`with_app_container`, `with_headers`: `create_app`'s wiring with profiling off);
4. `ProfilingMiddleware` in place of `with_headers`, recording into the in-process metrics and adding the header
   itself (as `create_app` wires it with profiling on);
5. the app as `create_app` builds it (every route, exception handlers, OpenAPI), on SQLite.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Annotated, Any

import uvloop
from dishka import Provider, Scope, make_async_container, provide
from litestar import Litestar, get
from litestar.params import QueryParameter

from application.caching import GetCacheStats
from domain.caching import CacheStats, StatsScope
from domain.ports import CachePort, Clock
from infrastructure.clock import REAL_CLOCK, SystemWallClock
from infrastructure.memory.cache import CacheManager
from infrastructure.memory.metrics import InMemoryMetrics
from presentation.app import EVERY_RESPONSE_HEADERS, create_app, with_app_container, with_headers
from presentation.http.cache import CacheController
from presentation.http.profiling import ProfilingMiddleware
from presentation.settings import load_settings

ASGI = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class CacheOnly(Provider):
    """The in-process cache and the stats use case, app-scoped, as the real providers give them."""

    scope = Scope.APP

    @provide
    def clock(self) -> Clock:
        return REAL_CLOCK

    @provide
    def cache(self, clock: Clock) -> CachePort:
        return CacheManager(clock=clock)

    get_stats = provide(GetCacheStats)


def request_scope(path: str) -> dict[str, Any]:
    """An HTTP scope as uvicorn hands it to the app, for GET `path`."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
    }


async def cpu_per_call(app: ASGI, path: str, calls: int) -> float:
    """Thread CPU µs per call of `app` for GET `path`; every answer must be a 200."""
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    started = time.thread_time()
    for _ in range(calls):
        await app(request_scope(path), receive, send)
    spent = time.thread_time() - started
    if statuses != {200}:
        raise RuntimeError(f"GET {path} answered {sorted(statuses)}")
    return spent / calls * 1e6


def bare_litestar(peers: Path) -> ASGI:
    """The bare Litestar peer's app, imported from its file."""
    spec = importlib.util.spec_from_file_location("bare_litestar_peer", peers / "bare-litestar" / "app.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no bare-litestar/app.py under {peers}")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # Litestar reads its namespace
    spec.loader.exec_module(module)
    return module.app  # type: ignore[no-any-return]


async def layers(folder: Path) -> tuple[list[tuple[str, str, ASGI]], Callable[[], Awaitable[None]]]:
    """(name, path, app) of each layer, and how to close them."""
    container = make_async_container(CacheOnly())
    get_stats = await container.get(GetCacheStats)

    @get("/cache/stats")
    async def plain() -> CacheStats:
        return await get_stats()

    @get("/cache/stats")
    async def with_parameter(
        stats_scope: Annotated[StatsScope, QueryParameter(name="scope")] = "local",
    ) -> CacheStats:
        return await get_stats(stats_scope)

    use_case = Litestar([plain])
    parameter = Litestar([with_parameter])
    injected = Litestar([CacheController])
    injected.asgi_handler = with_headers(with_app_container(injected.asgi_handler, container), EVERY_RESPONSE_HEADERS)
    profiled = Litestar([CacheController])
    profiler = ProfilingMiddleware(
        with_app_container(profiled.asgi_handler, container), slow_request_ms=300, headers=EVERY_RESPONSE_HEADERS
    )
    profiler.start(InMemoryMetrics(REAL_CLOCK), REAL_CLOCK, SystemWallClock())
    profiled.asgi_handler = profiler
    settings = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'perfshop.db'}",
        "PERFSHOP_DEMO_ITEMS": "10",
        "PERFSHOP_DEMO_ORDERS": "0",
        "PERFSHOP_LOG_LEVEL": "WARNING",
    }
    full = create_app(settings=load_settings(settings))
    lifespan = full.lifespan()
    await lifespan.__aenter__()

    async def close() -> None:
        await lifespan.__aexit__(None, None, None)
        await container.close()

    return [
        ("1. Litestar + use case", "/cache/stats", use_case),
        ("2. + `scope` query parameter", "/cache/stats", parameter),
        ("3. + app-scoped @inject, nosniff layer", "/cache/stats", injected),
        ("4. + ProfilingMiddleware", "/cache/stats", profiled),
        ("5. create_app's whole app", "/cache/stats", full),
    ], close


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        contenders, close = await layers(Path(folder))
        if args.peers:
            contenders.insert(0, ("bare Litestar GET /stats (peer)", "/stats", bare_litestar(args.peers)))
        try:
            figures: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
            for _name, path, app in contenders:  # warm-up: caches, lazily built handlers
                await cpu_per_call(app, path, max(200, args.requests // 20))
            for round_number in range(args.rounds):
                shift = round_number % len(contenders)
                for name, path, app in contenders[shift:] + contenders[:shift]:
                    figures[name].append(await cpu_per_call(app, path, args.requests))
        finally:
            await close()
    print(f"\n{args.rounds} round(s) of {args.requests:,} calls each, rotated; median thread CPU µs per call\n")
    print("| layer | µs per call | added by the layer | runs |")
    print("|---|---:|---:|---|")
    previous = None
    for name, _, _ in contenders:
        median = statistics.median(figures[name])
        added = "" if previous is None or name.startswith("bare") else f"{median - previous:+.1f}"
        runs = ", ".join(f"{value:.1f}" for value in figures[name])
        print(f"| {name} | {median:.1f} | {added} | {runs} |")
        previous = None if name.startswith("bare") else median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=Path, help="folder with bare-litestar/ (its row is left out without it)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20_000, help="calls per contender per round")
    parser.add_argument("--smoke", action="store_true", help="seconds: one round of 300 calls, no peer")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.requests, args.peers = 1, 300, None
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
