# 실행 방법: uv run python bench/support/metrics_read.py <this|textbook> <recorded> <reads> [PEERS_DIR]
"""Milliseconds of one contender's /metrics read at 50 endpoints after `recorded` requests: with nothing new since
the last read, and after a second of traffic (1,000 requests over the 50 endpoints).

bench/metrics_read_bench.py runs it in the venv of the contender, so each kind imports its code inside its own
function: `textbook` runs in the textbook peer's venv, where perfshop's modules do not exist. Prints one JSON line of
medians in ms over `reads` reads of each kind (and, for `this`, the phases of a read after traffic and their
pure-Python floor), plus the JSON size.
"""

import asyncio
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ENDPOINTS = 50
TRAFFIC = 1_000  # requests between two reads: a second of the benchmark's 1,000 requests per second
BENCH = Path(__file__).resolve().parent.parent


async def this_tree(recorded: int, reads: int) -> dict[str, float]:
    """perfshop's /metrics use case plus its JSON encoding over InMemoryMetrics with every feature on (both objectives,
    a queue time on every request, loop lag every 50 ms), as bench/profiling_bench.py fills it; and a read after
    traffic split into its phases, two of them beside what the least pure Python doing their work costs."""
    sys.path.insert(0, str(BENCH))
    import msgspec

    from application.metrics import GetMetrics, MetricsStates, ShareFaults
    from domain.histogram import estimate
    from domain.slo import Objective, latency_objective
    from infrastructure.memory.metrics import InMemoryMetrics
    from profiling_bench import SteppingClock, fill

    rng, clock = random.Random(1), SteppingClock()
    objectives = [Objective("availability", 99.9), latency_objective("99:300")]
    metrics = InMemoryMetrics(clock, window_s=60, loop_interval_s=0.05, objectives=objectives)
    fill(metrics, clock, recorded, ENDPOINTS, rng)
    use_case = GetMetrics(MetricsStates(metrics, None, ShareFaults(clock)))
    endpoints = list(metrics._endpoints.values())  # the adapter's own stats, to time a read's phases
    timings = [kind for stats in endpoints for kind in (stats.service, stats.queue, stats.e2e) if kind is not None]
    figures: dict[str, list[float]] = {}

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        figures.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    body = b""
    for _ in range(reads):
        fill(metrics, clock, TRAFFIC, ENDPOINTS, rng)
        with timed("after_traffic"):
            msgspec.json.encode(await use_case())
        with timed("nothing_new"):
            body = msgspec.json.encode(await use_case())
    for _ in range(reads):
        fill(metrics, clock, TRAFFIC, ENDPOINTS, rng)
        second, span = int(clock()), min(clock(), 60.0)
        # The floor of counting: the second's values added to the window and lifetime lists, one list addition each,
        # and nothing else (no groups, no slots); undone untimed, so that the phase after it counts them for real.
        work = [
            (kind.window.histogram.counts, kind.histogram.counts, dict(kind.window.current.pending)) for kind in timings
        ]
        with timed("counting_floor"):
            _add(work, 1)
        _add(work, -1)
        with timed("counting"):
            for kind in timings:
                kind.window.advance(second)
        # The floor of the percentiles: the same 900 figures with each one's bucket and the count below it given.
        given = [
            (one.counts, one.total, one.found) for kind in timings for one in (kind.histogram, kind.window.histogram)
        ]
        with timed("percentiles_floor"):
            _interpolate(given, estimate)
        with timed("summaries"):
            for stats in endpoints:
                stats.summary(second, span)
        with timed("document"):  # every summary is reused: what is left is the document and its JSON
            msgspec.json.encode(await use_case())
    medians = {name: statistics.median(values) for name, values in figures.items()}
    return {**medians, "bytes": len(body)}


def _add(work: list[tuple[list[int], list[int], dict[int, int]]], sign: int) -> None:
    for window, lifetime, pending in work:
        for index, times in pending.items():
            window[index] += sign * times
            lifetime[index] += sign * times


def _interpolate(given: list[tuple[list[int], int, list[int]]], estimate: Callable[..., float]) -> list[float]:
    figures = []
    for counts, total, found in given:
        for percent, index in zip((50, 95, 99), found, strict=True):
            # 0 stands in for the count below the bucket: the arithmetic, and so its cost, is the same.
            figures.append(round(estimate(index, -(-percent * total // 100), 0, counts[index] or 1)) / 1000)
    return figures


async def textbook(recorded: int, reads: int) -> dict[str, float]:
    """The textbook FastAPI app's /metrics: PerformanceStats.summary(), then the JSON response FastAPI makes of the
    dict its handler returns (jsonable_encoder, JSONResponse), with the same latencies as `this_tree`."""
    sys.path.insert(0, str(Path(sys.argv[4]) / "textbook-fastapi"))
    import profiling_app  # type: ignore[import-not-found]
    from fastapi.encoders import jsonable_encoder  # type: ignore[import-not-found]
    from starlette.responses import JSONResponse  # type: ignore[import-not-found]

    rng = random.Random(1)
    stats = profiling_app.PerformanceStats()
    names = [f"GET /bench/{i}/{{item_id}}" for i in range(ENDPOINTS)]
    medians = [rng.uniform(0.002, 0.3) for _ in range(ENDPOINTS)]

    def fill(requests: int) -> None:
        for i in range(requests):
            stats.record(names[i % ENDPOINTS], rng.lognormvariate(math.log(medians[i % ENDPOINTS]), 0.6) * 1000)

    def read() -> bytes:
        return JSONResponse(jsonable_encoder(stats.summary())).body

    fill(recorded)
    after, unchanged, body = [], [], b""
    for _ in range(reads):
        fill(TRAFFIC)
        started = time.perf_counter()
        read()
        after.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        body = read()
        unchanged.append((time.perf_counter() - started) * 1000)
    return {"after_traffic": statistics.median(after), "nothing_new": statistics.median(unchanged), "bytes": len(body)}


KINDS = {"this": this_tree, "textbook": textbook}


if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # one core for every contender
    print(json.dumps(asyncio.run(KINDS[sys.argv[1]](int(sys.argv[2]), int(sys.argv[3])))))
