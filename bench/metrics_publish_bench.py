# 실행 방법: uv run python bench/metrics_publish_bench.py [--rounds 5] [--cycles 30] [--smoke]
"""CPU cost of publishing this process's metrics to Redis every second, and of merging 8 processes' states.

Everything runs in this process against the real Redis (127.0.0.1:6379, or BENCH_REDIS_URL), pinned to core 1
when the machine has one: `time.process_time()` around each publish cycle (taking the state, encoding it,
one pipelined round trip), between cycles one more second of traffic is recorded (not timed). Beside it, in
the same rounds (rotated): the state alone, and a dense encoding (every bucket of every histogram) to show what
the bucket spans save. At one publication per second, the CPU seconds of one cycle are the share of a core.
Then cluster reads through the /metrics use case (8 processes x 50 endpoints), with and without new publications
to decode, and the longest stretch of CPU work between two turns of the event loop.
"""

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from application.metrics import GetMetrics, MetricsStates, ShareFaults
from domain.histogram import BUCKETS, Span
from domain.metrics import ProcessMetrics
from infrastructure.memory.metrics import InMemoryMetrics
from infrastructure.redis.metrics import RedisMetricsShare
from profiling_bench import SteppingClock, fill

ENDPOINTS = 50
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def dense(state: ProcessMetrics) -> bytes:
    """The same state with full bucket arrays instead of spans: what encoding spans avoids."""
    endpoints = {
        name: [
            endpoint.count,
            full(endpoint.buckets),
            full(endpoint.window_buckets),
            [(s.status_class, s.count, s.sum_s, s.buckets) for s in endpoint.series],
        ]
        for name, endpoint in state.endpoints.items()
    }
    return msgspec.msgpack.encode([state.process, state.uptime_s, endpoints])


def full(span: Span) -> list[int]:
    """Every bucket's count, the empty ones included."""
    return [0] * span.first + list(span.counts) + [0] * (BUCKETS - span.first - len(span.counts))


async def main(rounds: int, cycles: int, per_second: int) -> None:
    client = Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        print(f"Redis at {REDIS_URL} is not reachable ({type(error).__name__}): Redis rows skipped")
        client = None
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    rng = random.Random(1)
    clock = SteppingClock()
    metrics = InMemoryMetrics(clock, window_s=60, process="bench")
    fill(metrics, clock, per_second * 60, ENDPOINTS, rng)  # a full 60 s window at `per_second` requests/s
    share = RedisMetricsShare(client, prefix, expiry_s=3) if client else None

    async def state_only() -> int:
        return len(metrics.state().endpoints)

    async def state_and_encode() -> int:
        return len(msgspec.msgpack.encode(metrics.state()))

    async def publish() -> int:
        assert share is not None
        await share.publish(metrics.state())
        return 0

    async def publish_dense() -> int:
        assert client is not None
        await client.set(f"{prefix}:dense", dense(metrics.state()), px=3000)
        return 0

    variants: dict[str, Callable[[], Awaitable[int]]] = {"state only": state_only, "state + msgpack": state_and_encode}
    if share:
        variants |= {"publish (spans, ours)": publish, "publish (dense buckets)": publish_dense}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for round_ in range(rounds):
        rotated = order[round_ % len(order) :] + order[: round_ % len(order)]
        for name in rotated:
            cpu_total = wall_total = 0.0
            for _ in range(cycles):
                fill(metrics, clock, per_second, ENDPOINTS, rng)  # one more second of traffic, not timed
                started_cpu, started_wall = time.process_time(), time.perf_counter()
                await variants[name]()
                cpu_total += time.process_time() - started_cpu
                wall_total += time.perf_counter() - started_wall
            cpu[name].append(cpu_total / cycles)
            wall[name].append(wall_total / cycles)

    span_bytes = len(msgspec.msgpack.encode(metrics.state()))
    dense_bytes = len(dense(metrics.state()))
    ours = statistics.median(cpu["publish (spans, ours)"]) if share else None
    print(f"\n{ENDPOINTS} endpoints, {per_second} requests/s recorded, {rounds} rounds x {cycles} cycles (medians)")
    print("\n| variant | CPU ms per cycle | CPU share of one core at 1 s | wall ms per cycle | ratio to ours |")
    print("|---|---:|---:|---:|---:|")
    for name in variants:
        cpu_ms = statistics.median(cpu[name]) * 1000
        ratio = f"{cpu_ms / (ours * 1000):.2f}x" if ours else "–"
        print(f"| {name} | {cpu_ms:.2f} | {cpu_ms / 10:.3f} % | {statistics.median(wall[name]) * 1000:.2f} | {ratio} |")
    print(f"\nencoded state: {span_bytes:,} bytes with spans, {dense_bytes:,} bytes dense")
    if ours is not None:
        verdict = "meets" if ours <= 0.010 else f"misses by {ours / 0.010:.1f}x"
        print(f"target <= 1 % of one core at a 1 s interval: {ours * 100:.3f} % ({verdict})")
    if share and client:
        await read_rows(share, metrics, rounds)
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def read_rows(share: RedisMetricsShare, metrics: InMemoryMetrics, rounds: int) -> None:
    """Time cluster reads (the /metrics use case): this process's state plus 7 published ones, merged.

    The first read after the others republished downloads and decodes their states; a read while nothing was
    republished decodes nothing. Beside the CPU time, the longest stretch of CPU work between two turns of the
    event loop, seen by a task that only yields.
    """
    own = metrics.state()
    get_metrics = GetMetrics(MetricsStates(metrics, share, ShareFaults(time.monotonic)))
    rows: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for _ in range(max(rounds, 5)):
        for i in range(7):
            await share.publish(msgspec.structs.replace(own, process=f"peer-{i}"))
        for row in ("after 7 republished (decode 7)", "nothing republished (cached)"):
            cpu_times, wall_times, held = rows.setdefault(row, ([], [], []))
            gaps: list[float] = []
            ticker = asyncio.create_task(_yielder(gaps))
            await asyncio.sleep(0)
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            document = await get_metrics("cluster")
            cpu_times.append(time.process_time() - started_cpu)
            wall_times.append(time.perf_counter() - started_wall)
            ticker.cancel()
            held.append(max(gaps, default=0.0))
            assert document.processes == 8
    print("\n| cluster read (8 x 50 endpoints) | CPU ms (median) | wall ms (median) | longest loop hold, CPU ms |")
    print("|---|---:|---:|---:|")
    for row, (cpu_times, wall_times, held) in rows.items():
        print(
            f"| {row} | {statistics.median(cpu_times) * 1000:.2f} | {statistics.median(wall_times) * 1000:.2f} "
            f"| {statistics.median(held) * 1000:.2f} |"
        )


async def _yielder(gaps: list[float]) -> None:
    # CPU time of this thread between two turns: the work that held the loop, not the time other processes of
    # the shared machine took the core away.
    last = time.thread_time()
    while True:
        await asyncio.sleep(0)
        now = time.thread_time()
        gaps.append(now - last)
        last = now


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--per-second", type=int, default=1000, help="requests recorded per simulated second")
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: few cycles")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # away from core 0, where the servers of the other benchmarks run
    if args.smoke:
        args.rounds, args.cycles, args.per_second = 2, 2, 200
    asyncio.run(main(args.rounds, args.cycles, args.per_second))
