# 실행 방법: uv run python bench/redis_bench.py [--rounds 5] [--smoke]
"""RedisCache against cashews' and aiocache's Redis backends on the same local Redis, in interleaved rounds."""

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from aiocache import RedisCache as AiocacheRedis
from aiocache.serializers import PickleSerializer
from cashews import Cache

from infrastructure.memory.cache import CacheManager
from infrastructure.redis.cache import RedisCache
from infrastructure.redis.client import make_redis_client
from support.markdown import table

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
VALUE = {"id": 1, "name": "desk lamp", "price": 19.99, "stock": 3, "tags": ["home", "light"]}
TIMEOUT = 1.0  # generous: the benchmark measures speed, not how the breaker copes with a busy machine


@dataclass
class Contender:
    """One cache and its own calls for each operation."""

    name: str
    get: Callable[[str], Awaitable[Any]]
    set: Callable[[str], Awaitable[Any]]
    tag: Callable[[str], Awaitable[Any]] | None = None


def ours(prefix: str, *, l1: bool) -> RedisCache:
    """A RedisCache on the benchmark's prefix, with or without its in-process L1."""
    return RedisCache(
        make_redis_client(REDIS_URL, TIMEOUT),
        prefix=prefix,
        timeout=TIMEOUT,
        l1=(lambda: CacheManager(default_ttl=300, max_entries=1_000_000)) if l1 else None,
        l1_ttl=300,
    )


async def contenders(prefix: str) -> tuple[list[Contender], list[Any]]:
    """The caches side by side, and what to close afterwards."""
    plain, layered = ours(f"{prefix}-plain", l1=False), ours(f"{prefix}-l1", l1=True)
    await plain.start()
    await layered.start()
    memory = CacheManager(default_ttl=300, max_entries=1_000_000)
    cashews = Cache()
    cashews.setup(REDIS_URL, client_side=False)
    aiocache = AiocacheRedis(
        endpoint="127.0.0.1", port=6379, namespace=f"{prefix}-aiocache:", serializer=PickleSerializer()
    )
    found = [
        Contender("perfshop RedisCache", plain.get, lambda k: plain.set(k, VALUE, 300), lambda k: plain.tag(k, "t")),
        Contender("perfshop RedisCache + L1", layered.get, lambda k: layered.set(k, VALUE, 300)),
        Contender(
            "cashews redis",
            lambda k: cashews.get(f"{prefix}-cashews:{k}"),
            lambda k: cashews.set(f"{prefix}-cashews:{k}", VALUE, expire=300),
        ),
        Contender("aiocache RedisCache", aiocache.get, lambda k: aiocache.set(k, VALUE, ttl=300)),
        Contender("perfshop CacheManager (in-process)", memory.get, lambda k: memory.set(k, VALUE, 300)),
    ]
    return found, [plain, layered, cashews, aiocache]


async def interleaved(caches: list[Contender], op: str, keys: list[str], chunk: int = 100) -> dict[str, float]:
    """µs/op of one operation for each cache, the caches taking turns every `chunk` keys in a rotating order, so
    that a noisy neighbour slows them all alike."""
    spent = dict.fromkeys((c.name for c in caches), 0.0)
    for turn, first in enumerate(range(0, len(keys), chunk)):
        part = keys[first : first + chunk]
        for cache in caches[turn % len(caches) :] + caches[: turn % len(caches)]:
            call = getattr(cache, op.split()[0])
            started = time.perf_counter()
            for key in part:
                await call(key)
            spent[cache.name] += time.perf_counter() - started
    return {name: 1e6 * seconds / len(keys) for name, seconds in spent.items()}


async def operations(prefix: str, n: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median over rounds of µs/op per cache and operation."""
    caches, closing = await contenders(prefix)
    keys, missing = [f"items:{i}" for i in range(n)], [f"missing:{i}" for i in range(n)]
    samples: dict[str, dict[str, list[float]]] = {c.name: {} for c in caches}
    try:
        for cache in caches:  # warm: store every key once (and fill L1)
            for key in keys:
                await cache.set(key)
                await cache.get(key)
        for _ in range(rounds):
            for op, on in (("get hit", keys), ("get miss", missing), ("set", keys), ("get (refill L1)", keys)):
                for name, us in (await interleaved(caches, op, on)).items():
                    samples[name].setdefault(op, []).append(us)
            tagging = [cache for cache in caches if cache.tag is not None]
            for name, us in (await interleaved(tagging, "tag", keys)).items():
                samples[name].setdefault("tag", []).append(us)
    finally:
        for closable in closing:
            await (closable.close() if hasattr(closable, "close") else closable.aclose())
    return {name: {op: statistics.median(values) for op, values in rows.items()} for name, rows in samples.items()}


async def round_trip_ms(client: "redis.asyncio.Redis", samples: int = 200) -> float:
    """Median ms of a PING."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        await client.ping()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


async def tag_invalidation(prefix: str, total: int, tagged: int, rounds: int) -> tuple[float, float]:
    """Median ms to invalidate a `tagged`-key tag among `total` tagged keys, and the median PING round trip."""
    cache = ours(f"{prefix}-inv", l1=False)
    await cache.start()
    try:
        for first in range(0, total - tagged, 500):
            chunk = range(first, min(first + 500, total - tagged))
            await asyncio.gather(*(cache.set(f"bulk:{i}", VALUE, 600) for i in chunk))
            await asyncio.gather(*(cache.tag(f"bulk:{i}", "items") for i in chunk))
        times = []
        for _ in range(rounds):
            await asyncio.gather(*(cache.set(f"hot:{i}", VALUE, 600) for i in range(tagged)))
            await asyncio.gather(*(cache.tag(f"hot:{i}", "items", "hot") for i in range(tagged)))
            started = time.perf_counter()
            removed = await cache.invalidate_by_tag("hot")
            times.append(1000 * (time.perf_counter() - started))
            assert removed == tagged, removed
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            rtt = await round_trip_ms(client)
        finally:
            await client.aclose()
        return statistics.median(times), rtt
    finally:
        await cache.close()


async def cross_instance_delay(prefix: str, samples: int) -> list[float]:
    """ms from instance A's invalidate() call until instance B's L1 has dropped the key."""
    a, b = ours(f"{prefix}-x", l1=False), ours(f"{prefix}-x", l1=True)
    await a.start()
    await b.start()
    try:
        await a.set("probe", 1, 60)
        while await b.get("probe") is None or b.get_stats()["keys"] == 0:  # noqa: ASYNC110 - B subscribes
            await asyncio.sleep(0.05)
        delays = []
        for i in range(samples):
            key = f"x:{i}"
            await a.set(key, VALUE, 60)
            await asyncio.sleep(0.01)  # let A's message about the new key pass before B caches it
            held = b.get_stats()["keys"]
            await b.get(key)
            if b.get_stats()["keys"] == held:
                continue  # B's L1 did not take it (a message raced the fill): nothing to measure
            started = time.perf_counter()
            await a.invalidate(key)
            while b.get_stats()["keys"] > held:  # noqa: ASYNC110 - polls B's L1 without any I/O of its own
                await asyncio.sleep(0)
            delays.append(1000 * (time.perf_counter() - started))
        return delays
    finally:
        await a.close()
        await b.close()


async def clean(prefix: str) -> None:
    """Delete every key the benchmark wrote."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        names = [name async for name in client.scan_iter(match=f"{prefix}*", count=5_000)]
        for first in range(0, len(names), 5_000):
            await client.unlink(*names[first : first + 5_000])
    finally:
        await client.aclose()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def run(args: argparse.Namespace) -> int:
    """Every measurement, printed as Markdown tables with the targets."""
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, redis.RedisError):
        print(f"Redis is not reachable at {REDIS_URL}: nothing measured")
        return 1 if os.environ.get("REQUIRE_SERVICES") == "1" else 0
    finally:
        await client.aclose()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator on core 1; the shared redis-server is left where it is
    n, total, rounds, delays = (200, 5_000, 2, 30) if args.smoke else (2_000, 100_000, args.rounds, 500)
    prefix = f"perfshop-bench-{uuid.uuid4().hex[:8]}"
    try:
        medians = await operations(prefix, n, rounds)
        ops = ["get hit", "get miss", "set", "tag"]
        rows = [[name, *(f"{m[op]:,.1f}" if op in m else "n/a" for op in ops)] for name, m in medians.items()]
        table(["cache (µs/op, median of rounds)", *ops], rows)
        peers = min(medians[name]["get hit"] for name in ("cashews redis", "aiocache RedisCache"))
        mine = medians["perfshop RedisCache"]["get hit"]
        l1, memory = (
            medians["perfshop RedisCache + L1"]["get hit"],
            medians["perfshop CacheManager (in-process)"]["get hit"],
        )
        print(f"get-hit through Redis: {mine / peers:.2f}× the fastest peer (target ≤ 1.05×)")
        print(f"get-hit from L1: {l1 / memory:.2f}× CacheManager (target ≤ 2×)\n")

        inv_ms, rtt_ms = await tag_invalidation(prefix, total, 1_000, rounds)
        print(
            f"invalidate_by_tag of 1,000 keys among {total:,}: {inv_ms:.2f} ms, a PING round trip {rtt_ms:.2f} ms: "
            f"{inv_ms - rtt_ms:.2f} ms beyond one round trip (target ≤ 5 ms)\n"
        )

        measured = await cross_instance_delay(prefix, delays)
        print(
            f"cross-instance invalidation ({len(measured)} samples): p50 {percentile(measured, 0.5):.2f} ms, "
            f"p99 {percentile(measured, 0.99):.2f} ms (target p99 ≤ 100 ms)"
        )
    finally:
        await clean(prefix)
    return 0


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="seconds: few keys, two rounds, few samples")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
