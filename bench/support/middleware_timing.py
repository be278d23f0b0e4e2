# 실행 방법: uv run python bench/support/middleware_timing.py <this|base|prometheus|textbook> <requests> [PEERS_DIR]
"""In-process µs per request of one timing middleware around an ASGI app that only answers, and of that app alone.

bench/queue_time_bench.py runs it in the venv of the tree (or peer) whose middleware it times, so each kind imports
its middleware inside its own function: `base` runs in a base commit's venv, where this tree's modules do not exist.
Prints one JSON line: {"bare": µs, "wrapped": µs}.
"""

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ASGI = Callable[[Any, Any, Any], Awaitable[None]]


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that answers like the ping route and does nothing else."""
    scope["path_template"] = "/bench/ping"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
    await send({"type": "http.response.body", "body": b"pong"})


async def in_process_us(app: Any, requests: int, headers: tuple[tuple[bytes, bytes], ...] = ()) -> float:
    """Mean µs per GET /bench/ping through `app`, with `headers` besides Host."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/bench/ping",
            "raw_path": b"/bench/ping",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"bench"), *headers],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }

    for _ in range(200):  # warm the route caches
        await app(scope(), receive, send)
    started = time.perf_counter()
    for _ in range(requests):
        await app(scope(), receive, send)
    return (time.perf_counter() - started) / requests * 1e6


async def this_tree() -> tuple[ASGI, tuple[tuple[bytes, bytes], ...]]:
    """This tree's ProfilingMiddleware with every feature on: X-Request-Start trusted and sent, both SLOs, the loop
    lag sampler running (it wakes only when the loop is free, which these back-to-back calls never leave it)."""
    from application.metrics import SampleLoopLag
    from domain.slo import Objective, latency_objective
    from infrastructure.clock import MonotonicClock, SystemWallClock
    from infrastructure.memory.metrics import InMemoryMetrics
    from presentation.http.profiling import ProfilingMiddleware

    clock = MonotonicClock()
    objectives = [Objective("availability", 99.9), latency_objective("99:300")]
    metrics = InMemoryMetrics(clock, loop_interval_s=0.05, objectives=objectives)
    asyncio.get_running_loop().create_task(SampleLoopLag(metrics, clock, 0.05)())
    profiled = ProfilingMiddleware(bare_app, slow_request_ms=300, request_start_max_age_s=60)
    profiled.start(metrics, clock, SystemWallClock())
    return profiled, ((b"x-request-start", b"t=%d" % int(time.time() * 1e6)),)


async def base_tree() -> tuple[ASGI, tuple[tuple[bytes, bytes], ...]]:
    """The base commit's ProfilingMiddleware as that commit starts it (metrics and a clock)."""
    from infrastructure.clock import MonotonicClock
    from infrastructure.memory.metrics import InMemoryMetrics
    from presentation.http.profiling import ProfilingMiddleware

    clock = MonotonicClock()
    profiled = ProfilingMiddleware(bare_app, slow_request_ms=300)
    profiled.start(InMemoryMetrics(clock), clock)  # type: ignore[call-arg]  # the base's two-argument start
    return profiled, ()


async def prometheus() -> tuple[ASGI, tuple[tuple[bytes, bytes], ...]]:
    """Litestar's PrometheusMiddleware."""
    from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware

    return PrometheusMiddleware(bare_app, PrometheusConfig(app_name="bench")), ()


async def textbook() -> tuple[ASGI, tuple[tuple[bytes, bytes], ...]]:
    """The textbook FastAPI app's BaseHTTPMiddleware (PEERS_DIR/textbook-fastapi/profiling_app.py)."""
    sys.path.insert(0, str(Path(sys.argv[3]) / "textbook-fastapi"))
    import profiling_app  # type: ignore[import-not-found]

    return profiling_app.ProfilingMiddleware(bare_app, stats=profiling_app.PerformanceStats()), ()


CHUNKS = 20
KINDS = {"this": this_tree, "base": base_tree, "prometheus": prometheus, "textbook": textbook}


async def main() -> None:
    """Time the bare app and the wrapped one in alternating chunks, and print the median chunk of each.

    Alternating chunks rather than one long timing of each: a burst of load from other processes then lands on a
    chunk or two of either, which the medians leave out, instead of on one whole timing.
    """
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # one core for every contender, away from core 0 where servers run
    wrapped, headers = await KINDS[sys.argv[1]]()
    chunk = max(1, int(sys.argv[2]) // CHUNKS)
    bare, timed = [], []
    for _ in range(CHUNKS):
        bare.append(await in_process_us(bare_app, chunk))
        timed.append(await in_process_us(wrapped, chunk, headers))
    print(json.dumps({"bare": statistics.median(bare), "wrapped": statistics.median(timed)}))


if __name__ == "__main__":
    asyncio.run(main())
