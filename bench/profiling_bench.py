# 실행 방법: uv run python bench/profiling_bench.py [--rounds 5] [--seconds 5] [--smoke]
"""Cost of ProfilingMiddleware beside the same app without it and with Litestar's PrometheusMiddleware.

Rows: in-process µs per request (direct ASGI calls to a trivial route), HTTP requests/s through uvicorn with
wrk (server on core 0, wrk on core 1, rounds rotated, medians), the /metrics handler with 50 endpoints and
1,000,000 recorded requests, and the tracemalloc growth of the metrics from 100,000 to 1,000,000 requests. The
/metrics rows run with every feature on: both objectives (availability 99.9 %, latency 99:300), a queue time on every
request (a trusted X-Request-Start) and a loop lag sample every 50 ms. bench/queue_time_bench.py has the end-to-end
accuracy and the middleware's cost against a base commit. /slow/serialization through uvicorn on core 0: its median
with one busy-loop process per CPU running, and /health's p99 (wrk on core 1) while four clients call it back to back.
"""

import argparse
import asyncio
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import msgspec
from litestar import Litestar, get
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware

from application.metrics import GetMetrics, MetricsStates, ShareFaults
from domain.metrics import RequestSample
from domain.ports import Clock, MetricsPort, WallClock
from domain.slo import Objective, latency_objective
from infrastructure.memory.metrics import InMemoryMetrics
from presentation.app import create_app
from presentation.http.profiling import ProfilingMiddleware
from presentation.settings import Settings, load_settings
from support.middleware_timing import bare_app, in_process_us

BENCH_DIR = Path(__file__).resolve().parent
VARIANTS = ("profiling", "off", "litestar-prometheus")
# The middleware's own cost, without the rest of the app: around an ASGI app that only answers.
BARE, BARE_PROFILED = "bare ASGI app", "bare ASGI app + ProfilingMiddleware"
SLOW_TARGETS_MS = {"/slow/db-query": 200, "/slow/serialization": 100, "/slow/external-api": 500}


def prometheus_app(settings: Settings | None = None) -> Litestar:
    """The app without our middleware, with Litestar's PrometheusMiddleware at the same ASGI level (raw paths)."""
    app = create_app(settings=msgspec.structs.replace(settings or load_settings(os.environ), profiling=False))
    app.asgi_handler = PrometheusMiddleware(app.asgi_handler, PrometheusConfig(app_name="perfshop"))
    return app


def build(variant: str, settings: Settings) -> Litestar:
    """One variant of the app, with a trivial extra route for the in-process timing."""

    @get("/bench/ping")
    async def ping() -> bytes:
        return b"pong"

    if variant == "litestar-prometheus":
        app = prometheus_app(settings)
    else:
        app = create_app(settings=msgspec.structs.replace(settings, profiling=variant == "profiling"))
    app.register(ping)
    return app


async def slow_endpoint_ms(app: Litestar, rounds: int) -> dict[str, float]:
    """Median ms of each slow endpoint, requested in turn, through the app in this process."""
    times: dict[str, list[float]] = {path: [] for path in SLOW_TARGETS_MS}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(rounds):
            for path in SLOW_TARGETS_MS:
                started = time.perf_counter()
                (await client.get(path)).raise_for_status()
                times[path].append((time.perf_counter() - started) * 1000)
    return {path: statistics.median(values) for path, values in times.items()}


async def in_process_rows(settings: Settings, rounds: int, requests: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median µs per request of each variant over rotated rounds, and the slow endpoints' median ms."""
    apps: dict[str, Any] = {variant: build(variant, settings) for variant in VARIANTS}
    async with AsyncExitStack() as running:
        for variant in VARIANTS:
            await running.enter_async_context(apps[variant].lifespan())
        container = apps["profiling"].state.dishka_container
        apps[BARE] = bare_app
        profiled = ProfilingMiddleware(bare_app, slow_request_ms=settings.slow_request_ms)
        profiled.start(await container.get(MetricsPort), await container.get(Clock), await container.get(WallClock))
        apps[BARE_PROFILED] = profiled
        names = list(apps)
        results: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                results[name].append(await in_process_us(apps[name], requests))
        slow = await slow_endpoint_ms(apps["off"], rounds)
    return {variant: statistics.median(times) for variant, times in results.items()}, slow


def start_server(variant: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """uvicorn on core 0 serving one variant."""
    target = "profiling_bench:prometheus_app" if variant == "litestar-prometheus" else "presentation.app:create_app"
    variant_env = {**env, "PERFSHOP_PROFILING": "false" if variant != "profiling" else "true"}
    command = [sys.executable, "-m", "uvicorn", target, "--factory", "--app-dir", str(BENCH_DIR)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    return subprocess.Popen(command, env={**os.environ, **variant_env}, stderr=subprocess.DEVNULL)


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until /health answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


def wrk_rps(port: int, seconds: float) -> float:
    """Requests/s of wrk (1 thread, 16 connections) on core 1 against GET /health."""
    command = ["wrk", "-t1", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}/health"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "1", *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match or "Non-2xx" in output:
        raise SystemExit(f"wrk failed:\n{output}")
    return float(match.group(1))


def http_rows(rounds: int, seconds: float, warm_up: bool) -> dict[str, float] | None:
    """Median requests/s of each variant through uvicorn, or None when wrk is not installed."""
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install -y wrk): HTTP rows skipped")
        return None
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
            "PERFSHOP_DEMO_ITEMS": "0",
            "PERFSHOP_DEMO_ORDERS": "0",
            "PERFSHOP_LOG_LEVEL": "ERROR",  # no slow-request warnings in the measurement
            "PYTHONPATH": str(BENCH_DIR),
        }
        ports = {variant: _free_port() for variant in VARIANTS}
        servers = {variant: start_server(variant, ports[variant], env) for variant in VARIANTS}
        try:
            for variant in VARIANTS:
                wait_ready(ports[variant], servers[variant])
                if warm_up:
                    wrk_rps(ports[variant], 1)
            results: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
            for round_ in range(rounds):
                for variant in VARIANTS[round_ % 3 :] + VARIANTS[: round_ % 3]:
                    results[variant].append(wrk_rps(ports[variant], seconds))
            for variant, values in results.items():
                print(f"{variant} req/s by round: {', '.join(f'{value:,.0f}' for value in values)}")
        finally:
            for server in servers.values():
                server.terminate()
                server.wait(timeout=15)
    return {variant: statistics.median(values) for variant, values in results.items()}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SERIALIZATION = "/slow/serialization"
SERIALIZATION_STREAMS = 4  # clients calling it back to back while wrk probes /health
WRK_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # the units of wrk's --latency percentiles


class SerializationRows(NamedTuple):
    """/slow/serialization under load: its median with busy loops running, and /health's p99 beside it."""

    busy_loops: int
    busy_median_ms: float
    health_p99_ms: float
    serialized: int  # calls made while wrk probed /health


@contextmanager
def busy_loops() -> Iterator[int]:
    """One Python busy-loop process per CPU, unpinned, for the duration of the block; yields how many."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        yield len(loops)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait(timeout=15)


def serialize_ms(client: httpx.Client) -> float:
    """Ms of one GET /slow/serialization."""
    started = time.perf_counter()
    client.get(SERIALIZATION).raise_for_status()
    return (time.perf_counter() - started) * 1000


def back_to_back(port: int, stop: threading.Event) -> int:
    """Call /slow/serialization one call after the other until `stop` is set; how many calls."""
    calls = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while not stop.is_set():
            serialize_ms(client)
            calls += 1
    return calls


def health_p99_ms(port: int, seconds: int) -> tuple[float, int]:
    """/health's p99 ms under wrk (1 thread, 4 connections, core 1) while SERIALIZATION_STREAMS clients call
    /slow/serialization back to back, and how many serializations ran meanwhile."""
    command = ["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/health"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "1", *command]
    stop = threading.Event()
    # The calling clients on wrk's core, away from the server's (their threads inherit this thread's affinity):
    # what is measured is the server's answer, not the clients' wait for a core.
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1} if len(saved) > 1 else saved)
    try:
        with ThreadPoolExecutor(SERIALIZATION_STREAMS) as pool:
            streams = [pool.submit(back_to_back, port, stop) for _ in range(SERIALIZATION_STREAMS)]
            try:
                output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
            finally:
                stop.set()
            serialized = sum(stream.result() for stream in streams)
    finally:
        os.sched_setaffinity(0, saved)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if not p99 or "Non-2xx" in output:
        raise SystemExit(f"wrk failed:\n{output}")
    return float(p99.group(1)) * WRK_UNITS_MS[p99.group(2)], serialized


def serialization_rows(rounds: int, seconds: int, calls: int) -> SerializationRows | None:
    """Through uvicorn on core 0: the median ms of `calls` calls a round of /slow/serialization with one busy-loop
    process per CPU running, and the median over rounds of /health's p99 while SERIALIZATION_STREAMS clients call
    it back to back (no busy loops); None when wrk is not installed."""
    if not shutil.which("wrk"):
        return None
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{Path(folder) / 'serialization.db'}",
            "PERFSHOP_DEMO_ITEMS": "0",
            "PERFSHOP_DEMO_ORDERS": "0",
            "PERFSHOP_LOG_LEVEL": "ERROR",  # no slow-request warnings in the measurement
        }
        port = _free_port()
        server = start_server("profiling", port, env)
        busy_ms: list[float] = []
        health: list[tuple[float, int]] = []
        try:
            wait_ready(port, server)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                serialize_ms(client)  # warm-up: the first request after start-up pays a full garbage collection
                for _ in range(rounds):
                    with busy_loops() as loops:
                        busy_ms += [serialize_ms(client) for _ in range(calls)]
                    health.append(health_p99_ms(port, seconds))
        finally:
            server.terminate()
            server.wait(timeout=15)
    p99s = [p99 for p99, _ in health]
    return SerializationRows(loops, statistics.median(busy_ms), statistics.median(p99s), sum(n for _, n in health))


def print_serialization_rows(rows: SerializationRows | None, seconds: int) -> None:
    """The table of serialization_rows, or why it is missing."""
    if rows is None:
        print("\nwrk is not installed: /slow/serialization rows skipped")
        return
    median, p99 = rows.busy_median_ms, rows.health_p99_ms
    print("\n| /slow/serialization under load | target | measured | met |")
    print("|---|---:|---:|---|")
    print(
        f"| median ms, {rows.busy_loops} busy-loop processes running (one per CPU) | 100 ± 15 % | {median:.1f}"
        f" | {'yes' if abs(median - 100) <= 15 else 'NO'} |"
    )
    print(
        f"| GET /health p99 ms (wrk -c4, {seconds} s a round) while {SERIALIZATION_STREAMS} clients call it back to"
        f" back ({rows.serialized} calls) | ≤ 20 | {p99:.2f} | {'yes' if p99 <= 20 else 'NO'} |"
    )


class SteppingClock:
    """A clock the benchmark moves by hand, to simulate hours of traffic in seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fill(metrics: InMemoryMetrics, clock: SteppingClock, requests: int, endpoints: int, rng: random.Random) -> None:
    """Record `requests` lognormal latencies with a queue time each over `endpoints` endpoints, 1,000 requests per
    second, and a loop lag sample every 50 requests (the sampler's 50 ms)."""
    names = [f"GET /bench/{i}/{{item_id}}" for i in range(endpoints)]
    medians = [rng.uniform(0.002, 0.3) for _ in range(endpoints)]
    for i in range(requests):
        which = i % endpoints
        status = 500 if i % 97 == 0 else 404 if i % 23 == 0 else 200
        seconds = rng.lognormvariate(math.log(medians[which]), 0.6)
        metrics.record(RequestSample(names[which], status, seconds, None, rng.expovariate(1000)))
        if i % 50 == 0:
            metrics.lag(rng.expovariate(2000))
        clock.now += 0.001


def metrics_rows(requests: int, endpoints: int, repeats: int) -> tuple[float, float, int, int]:
    """(median ms of the /metrics use case plus JSON encoding with nothing recorded between reads, the same with a
    second of traffic on every endpoint before each read, bytes of memory growth, JSON size).

    A read of an unchanged endpoint reuses its figures; under traffic every endpoint has changed, which is what a
    dashboard polling once a second meets.
    """
    rng = random.Random(1)
    clock = SteppingClock()
    tracemalloc.start()
    objectives = [Objective("availability", 99.9), latency_objective("99:300")]
    metrics = InMemoryMetrics(clock, window_s=60, loop_interval_s=0.05, objectives=objectives)
    fill(metrics, clock, requests // 10, endpoints, rng)
    early = tracemalloc.get_traced_memory()[0]
    fill(metrics, clock, requests - requests // 10, endpoints, rng)
    grown = tracemalloc.get_traced_memory()[0] - early
    tracemalloc.stop()
    use_case = GetMetrics(MetricsStates(metrics, None, ShareFaults(clock)))
    unchanged, body = asyncio.run(time_handler(use_case, repeats))
    busy, _ = asyncio.run(time_handler(use_case, repeats, lambda: fill(metrics, clock, 1_000, endpoints, rng)))
    return statistics.median(unchanged) * 1000, statistics.median(busy) * 1000, grown, len(body)


async def time_handler(
    use_case: GetMetrics, repeats: int, between: Callable[[], None] | None = None
) -> tuple[list[float], bytes]:
    """Seconds of each call of the /metrics use case plus the JSON encoding its handler's response does; `between`
    runs before each call, untimed."""
    timings = []
    body = b""
    for _ in range(repeats):
        if between is not None:
            between()
        started = time.perf_counter()
        body = msgspec.json.encode(await use_case())
        timings.append(time.perf_counter() - started)
    return timings, body


def main() -> None:
    """Run every row and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration of one round")
    parser.add_argument("--requests", type=int, default=20_000, help="in-process requests per round")
    parser.add_argument("--recorded", type=int, default=1_000_000, help="requests recorded for the /metrics row")
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: tiny counts, one round")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.requests, args.recorded = 1, 1, 500, 20_000

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'inprocess.db'}",
            demo_items=0,
            demo_orders=10_000 if args.smoke else 100_000,
            log_level="ERROR",
        )
        micros, slow = asyncio.run(in_process_rows(settings, args.rounds, args.requests))
    rps = http_rows(args.rounds, args.seconds, warm_up=not args.smoke)
    serialization = serialization_rows(args.rounds, args.seconds, calls=5 if args.smoke else 20)

    print(f"\n{args.rounds} rounds, rotated; medians. In-process: GET /bench/ping; HTTP: wrk GET /health.\n")
    print("| variant | in-process µs/request | added µs | HTTP req/s | ratio to off |")
    print("|---|---:|---:|---:|---:|")
    for variant in VARIANTS:
        added = micros[variant] - micros["off"]
        http = f"{rps[variant]:,.0f}" if rps else "n/a"
        ratio = f"{rps[variant] / rps['off']:.3f}" if rps else "n/a"
        print(f"| {variant} | {micros[variant]:.1f} | {added:+.1f} | {http} | {ratio} |")
    print(f"| {BARE} | {micros[BARE]:.1f} | | | |")
    print(f"| {BARE_PROFILED} | {micros[BARE_PROFILED]:.1f} | {micros[BARE_PROFILED] - micros[BARE]:+.1f} | | |")

    print("\n| slow endpoint | target ms | median ms | within ±15 % |")
    print("|---|---:|---:|---|")
    for path, target in SLOW_TARGETS_MS.items():
        verdict = "yes" if abs(slow[path] - target) <= 0.15 * target else "NO"
        print(f"| GET {path} | {target} | {slow[path]:.1f} | {verdict} |")
    print_serialization_rows(serialization, args.seconds)

    handler_ms, busy_ms, grown, size = metrics_rows(args.recorded, 50, repeats=21 if not args.smoke else 3)
    print(
        "\n| /metrics: endpoints | recorded requests | handler ms (median) | after 1 s of traffic on every endpoint "
        "| JSON bytes | tracemalloc growth |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| 50 | {args.recorded:,} | {handler_ms:.2f} | {busy_ms:.2f} | {size:,} | {grown / 1024:,.1f} KiB |")


if __name__ == "__main__":
    main()
