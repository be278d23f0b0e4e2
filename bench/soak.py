# 실행 방법: uv run python bench/soak.py [--requests 200000] [--concurrency 32] [--redis-fault] [--smoke]
"""Soak: warm the cache to its bound, drive mixed traffic through uvicorn, then check errors, memory and coherence.

Checks at the end: zero 5xx; server RSS at most 5 MB above its value after warm-up; every item's cached
representation equal to its database row (no stale cache after concurrent writes); /metrics counts equal to the
requests this script sent, its own checks included.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import free_port
from tests.services import PrivateRedis

SERVER_CORE, CLIENT_CORE = 0, 1
RSS_BUDGET_MB = 5.0
WARM_UP_REQUESTS = 3_000
# Share of each kind of request in the mix, by route template.
MIX = (
    ("GET /items/{item_id}", 55),
    ("GET /items", 10),
    ("PATCH /items/{item_id}", 10),
    ("GET /export/orders", 2),
    ("GET /metrics", 3),
    ("<unmatched>", 20),
)


def probe_lines(report: Path) -> list[str]:
    """The snapshots the memory probe has written so far."""
    return report.read_text().splitlines() if report.exists() else []


async def probe_memory(pid: int, report: Path) -> dict[str, float]:
    """Ask the server's memory probe for a snapshot and wait for it (see bench/support/memory_probe.py)."""
    before = len(await asyncio.to_thread(probe_lines, report))
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(written := await asyncio.to_thread(probe_lines, report)) > before:
            return dict(json.loads(written[-1]))
        await asyncio.sleep(0.1)
    raise RuntimeError("the server's memory probe did not answer")


class Soak:
    """One server, one client, and the tally of every request the client sent."""

    def __init__(self, base: str, items: int, concurrency: int, keep_alive: float) -> None:
        self.base = base
        self.items = items
        self.concurrency = concurrency
        self.sent: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.dropped: list[str] = []
        limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=keep_alive)
        self.client = httpx.AsyncClient(base_url=base, timeout=60, limits=limits)

    async def call(self, endpoint: str, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        """Send one request and count it under its route template; a dropped connection is counted, not raised."""
        try:
            response = await self.client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as error:
            self.dropped.append(f"{method} {path}: {error!r}")
            return None
        self.sent[endpoint] += 1
        self.statuses[response.status_code] += 1
        return response

    async def one(self, kind: str, rng: random.Random) -> None:
        """A request of the given kind with random parameters."""
        item = rng.randint(1, self.items)
        if kind == "GET /items/{item_id}":
            await self.call(kind, "GET", f"/items/{item}")
        elif kind == "GET /items":
            await self.call(kind, "GET", "/items", params={"page": rng.randint(1, 20), "size": rng.choice((10, 20))})
        elif kind == "PATCH /items/{item_id}":
            body = {"stock": rng.randint(0, 999), "price": round(rng.uniform(1, 500), 2)}
            await self.call(kind, "PATCH", f"/items/{item}", json=body)
        elif kind == "GET /export/orders":
            day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            try:
                async with self.client.stream(
                    "GET", "/export/orders", params={"start_date": day, "end_date": day}
                ) as r:
                    async for _ in r.aiter_bytes():
                        pass
            except httpx.TransportError as error:
                self.dropped.append(f"GET /export/orders {day}: {error!r}")
                return
            self.sent[kind] += 1
            self.statuses[r.status_code] += 1
        elif kind == "GET /metrics":
            await self.call(kind, "GET", "/metrics")
        else:
            await self.call(kind, "GET", rng.choice(("/wp-admin/setup.php", "/.env", f"/items/{item}/x", "/admin")))

    async def drive(self, total: int, seed: int) -> float:
        """Send `total` requests of the mix with `concurrency` in flight; returns requests/s."""
        kinds = [kind for kind, _ in MIX]
        weights = [weight for _, weight in MIX]
        plan = random.Random(seed).choices(kinds, weights=weights, k=total)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for kind in plan:
            queue.put_nowait(kind)

        async def worker(number: int) -> None:
            rng = random.Random(seed * 1000 + number)
            while not queue.empty():
                await self.one(queue.get_nowait(), rng)

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(self.concurrency)))
        return total / (time.perf_counter() - started)

    async def warm_up(self, pages: int) -> None:
        """Fill the cache to its bound, then run a short burst of the mix so that pools and buffers are sized."""
        for page in range(1, pages + 1):
            await self.call("GET /items", "GET", "/items", params={"page": page, "size": 10})
        ids = iter(range(1, self.items + 1))

        async def reader() -> None:
            for item in ids:
                await self.call("GET /items/{item_id}", "GET", f"/items/{item}")

        await asyncio.gather(*(reader() for _ in range(self.concurrency)))
        await self.drive(WARM_UP_REQUESTS, seed=1)


def stale_items(soak_items: dict[int, dict[str, object]], database: Path) -> list[int]:
    """Ids whose cached representation differs from the database row."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT id, name, description, price, stock, updated_at FROM items").fetchall()
    stale = []
    for item_id, name, description, price, stock, updated_at in rows:
        cached = soak_items[item_id]
        stored = datetime.fromisoformat(str(updated_at)).replace(microsecond=0)
        shown = datetime.fromisoformat(str(cached["updated_at"]).replace("Z", "")).replace(microsecond=0)
        if (cached["name"], cached["description"], cached["price"], cached["stock"], shown) != (
            name,
            description,
            float(price),
            stock,
            stored,
        ):
            stale.append(item_id)
    return stale


class Outcome(NamedTuple):
    """What the soak measured."""

    rate: float
    memory_warm: dict[str, float]
    memory_end: dict[str, float]
    stale: list[int]
    counted: dict[str, dict[str, Any]]


async def redis_outage(soak: Soak, redis: PrivateRedis, requests: int) -> None:
    """Stop the cache's Redis once 30 % of the load is sent, and start it again at 50 %."""
    first = soak.sent.total()
    for share, action in ((0.3, redis.stop), (0.5, redis.start)):
        while soak.sent.total() - first < requests * share:  # noqa: ASYNC110 - polls the load's progress
            await asyncio.sleep(0.05)
        await asyncio.to_thread(action)
        print(f"redis {action.__name__} after {soak.sent.total() - first:,} requests", file=sys.stderr)


async def soak_server(
    soak: Soak, pid: int, requests: int, database: Path, redis: PrivateRedis | None, memory: Path
) -> Outcome:
    """Warm up, drive the load (with a Redis outage half-way when asked), then read back items and counts."""
    try:
        await wait_up(soak)
        await soak.warm_up(pages=2)
        memory_warm = await probe_memory(pid, memory)
        outage = asyncio.create_task(redis_outage(soak, redis, requests)) if redis else None
        rate = await soak.drive(requests, seed=7)
        if outage is not None:
            await outage
        memory_end = await probe_memory(pid, memory)
        cached = {}
        for item in range(1, soak.items + 1):
            await soak.call("GET /items/{item_id}", "GET", f"/items/{item}")  # a miss at most, then a hit
            response = await soak.call("GET /items/{item_id}", "GET", f"/items/{item}")
            cached[item] = response.json() if response is not None else {}
        counted = (await soak.client.get("/metrics")).json()["endpoints"]
    finally:
        await soak.client.aclose()
    return Outcome(rate, memory_warm, memory_end, stale_items(cached, database), counted)


def run(args: argparse.Namespace) -> int:
    """Start the server, soak it, check, and print the figures; 0 when every check holds."""
    requests, items = (10_000, 500) if args.smoke else (args.requests, args.items)
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "soak.db"
        port = free_port()
        env = {
            **os.environ,
            "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "PERFSHOP_PORT": str(port),
            "PERFSHOP_DEMO_ITEMS": str(items),
            "PERFSHOP_DEMO_ORDERS": "20000",
            "PERFSHOP_CACHE_MAX_ENTRIES": str(items + 20),
            "PERFSHOP_LOG_LEVEL": "WARNING",
        }
        redis = PrivateRedis(free_port()) if args.redis_fault else None
        if redis is not None:
            redis.start()
            env["PERFSHOP_REDIS_URL"] = redis.url
        memory = Path(folder) / "memory.jsonl"
        command = [sys.executable, str(Path(__file__).parent / "support" / "memory_probe.py"), str(memory), "serve"]
        log = (Path(folder) / "server.log").open("w")
        server = subprocess.Popen(["taskset", "-c", str(SERVER_CORE), *command], env=env, stderr=log)
        soak = Soak(f"http://127.0.0.1:{port}", items, args.concurrency, args.client_keep_alive)
        try:
            outcome = asyncio.run(soak_server(soak, server.pid, requests, database, redis, memory))
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
            if redis is not None:
                redis.stop()
        server_log = (Path(folder) / "server.log").read_text()
    code = report(requests, soak, outcome)
    if code:
        kept = Path(__file__).resolve().parents[1] / "test-artifacts" / "soak-server.log"
        kept.parent.mkdir(exist_ok=True)
        kept.write_text(server_log)
        print(f"server log (tail; all of it in {kept.name}):\n" + server_log[-4000:], file=sys.stderr)
    return code


def report(requests: int, soak: Soak, outcome: Outcome) -> int:
    """Print the figures as a Markdown row and every failed check; 0 when all hold."""
    counted = outcome.counted
    mismatched = {
        endpoint: (sent, counted.get(endpoint, {}).get("count"))
        for endpoint, sent in soak.sent.items()
        if counted.get(endpoint, {}).get("count") != sent
    }
    server_errors = sum(n for status, n in soak.statuses.items() if status >= 500)
    warm, end = outcome.memory_warm, outcome.memory_end
    growth = end["rss"] - warm["rss"]
    print(
        "| requests | req/s | 5xx | statuses | RSS after warm-up MB | RSS at end MB | growth MB | stale | mismatches "
        "| lost |\n|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    )
    print(
        f"| {requests:,} | {outcome.rate:,.0f} | {server_errors} | {dict(sorted(soak.statuses.items()))} | "
        f"{warm['rss']:.1f} | {end['rss']:.1f} | {growth:+.1f} | {len(outcome.stale)} | {len(mismatched)} | "
        f"{len(soak.dropped)} |"
    )
    print("\n| memory, MB | after warm-up | at end | growth |\n|---|---:|---:|---:|")
    for part in warm:
        print(f"| {part} | {warm[part]:.1f} | {end[part]:.1f} | {end[part] - warm[part]:+.1f} |")
    failures = []
    if server_errors:
        failures.append(f"{server_errors} responses were 5xx")
    if growth > RSS_BUDGET_MB:
        failures.append(f"RSS grew {growth:.1f} MB after warm-up (budget {RSS_BUDGET_MB} MB)")
    if outcome.stale:
        failures.append(f"{len(outcome.stale)} items cached differently from the database, e.g. {outcome.stale[:5]}")
    if mismatched:
        failures.append(f"/metrics counts differ from the requests sent: {mismatched}")
    if soak.dropped:
        failures.append(f"{len(soak.dropped)} requests lost their connection, e.g. {soak.dropped[:3]}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


async def wait_up(soak: Soak) -> None:
    """Poll /health until it answers; every answered poll is counted like any other request."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            response = await soak.client.get("/health")
        except httpx.TransportError:
            await asyncio.sleep(0.1)
            continue
        soak.sent["GET /health"] += 1
        soak.statuses[response.status_code] += 1
        if response.status_code == 200:
            return
    raise RuntimeError("the server did not start")


def main() -> None:
    """Parse the options, pin this client to its core, and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--client-keep-alive",
        type=float,
        default=2.0,
        help="seconds the client keeps an idle connection; below the server's PERFSHOP_KEEP_ALIVE_S (5), or a "
        "request sent just as the server closes an idle connection is lost",
    )
    parser.add_argument("--smoke", action="store_true", help="10,000 requests over 500 items (what CI runs)")
    parser.add_argument(
        "--redis-fault", action="store_true", help="cache on a private redis-server, stopped and restarted mid-load"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CORE})
    sys.exit(run(args))


if __name__ == "__main__":
    main()
