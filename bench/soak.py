# 실행 방법: uv run python bench/soak.py [--requests 200000] [--concurrency 32] [--tree DIR] [--redis-fault] [--smoke]
"""Soak: warm the cache to its bound, drive mixed traffic through uvicorn, then check errors, memory and coherence.

Checks at the end: zero 5xx; server RSS at most 5 MB above its value after warm-up; every item's cached
representation equal to its database row (no stale cache after concurrent writes); /metrics counts equal to the
requests this script sent, its own checks included.

The client revalidates like a browser: it keeps the body and the `ETag` of every `GET /items/{id}` answered 200, and
each later read of that id sends `If-None-Match: <kept ETag>`; a 304 keeps the copy, a 200 replaces copy and ETag (a
server without ETags gets plain reads). The check of an item compares the copy kept after its final read with the
database row; when that read was a 304, a difference is a stale validator, a failure like a stale item. The row
printed at the end counts the 304s.

The client is a minimal HTTP/1.1 one on asyncio streams and uvloop: one keep-alive connection per request in flight,
every request pre-built as bytes before the drive starts (an item read gains its If-None-Match field when sent),
responses read by Content-Length or chunked to their end.
The row printed at the end gives the client's CPU time over the drive as a share of the drive's wall time: at 90 %
or more of its core the req/s figure measures the client, not the server.
`--tree DIR` serves another perfshop checkout (its `.venv`) with this same client, checks and settings.
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

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import free_port
from tests.services import PrivateRedis

SERVER_CORE, CLIENT_CORE = 0, 1
TIMEOUT_S = 60.0  # for one request and its whole response, as the httpx client this one replaced had
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
ITEM_READ = "GET /items/{item_id}"


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


# What a lost connection raises: reset or refused (OSError, TimeoutError among them), cut short (EOFError: asyncio's
# IncompleteReadError), a header block over the stream's limit, or a status line or size that is not a number.
LOST = (OSError, EOFError, asyncio.LimitOverrunError, ValueError)


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams, opened on first use and again after a close."""

    def __init__(self, port: int, keep_alive: float) -> None:
        self.port = port
        self.keep_alive = keep_alive
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.idle_since = 0.0

    async def exchange(self, request: bytes) -> tuple[int, bytes, bytes]:
        """Send one request and read its whole response; (status, head, body). On a LOST error the connection is
        closed."""
        try:
            async with asyncio.timeout(TIMEOUT_S):
                return await self._exchange(request)
        except LOST:
            self.close()
            raise

    async def _exchange(self, request: bytes) -> tuple[int, bytes, bytes]:
        """`exchange` without its deadline and clean-up: (re)open when needed, write, read the response."""
        reader, writer = self.reader, self.writer
        if reader is None or writer is None or reader.at_eof() or time.monotonic() - self.idle_since > self.keep_alive:
            self.close()  # an idle connection is not reused past --client-keep-alive, like httpx's keepalive_expiry
            reader, writer = self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        fields = head.lower()
        if (at := fields.find(b"\r\ncontent-length:")) >= 0:
            body = await reader.readexactly(int(fields[at + 17 : fields.index(b"\r\n", at + 2)]))
        elif b"\r\ntransfer-encoding: chunked" in fields:
            body = await read_chunked(reader)
        elif status in (204, 304):
            body = b""
        else:  # no length given: the body ends with the connection
            body = await reader.read()
            fields += b"\r\nconnection: close"
        if b"\r\nconnection: close" in fields:
            self.close()
        self.idle_since = time.monotonic()
        return status, head, body

    def close(self) -> None:
        """Close the connection (if open); the next exchange opens a new one."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body to its last chunk and the blank line after the (ignored) trailers."""
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
        parts.append((await reader.readexactly(size + 2))[:-2])
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass
    return b"".join(parts)


def etag_of(head: bytes) -> bytes:
    """The `ETag` field's value in a response head (the status line and fields), b"" when there is none."""
    at = head.lower().find(b"\r\netag:")  # the same offsets in `head`: the tag's case is kept
    return head[at + 7 : head.index(b"\r\n", at + 2)].strip() if at >= 0 else b""


class Soak:
    """One server, one client of `concurrency` connections, and the tally of every request the client sent."""

    def __init__(self, port: int, items: int, concurrency: int, keep_alive: float) -> None:
        self.host = f"127.0.0.1:{port}"
        self.items = items
        self.connections = [Connection(port, keep_alive) for _ in range(concurrency)]
        self.sent: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.dropped: list[str] = []
        # The plain request of each item read (no If-None-Match) -> ETag (b"" when none) and body of its last 200.
        self.copies: dict[bytes, tuple[bytes, bytes]] = {}

    def request(self, method: str, target: str, body: object = None) -> bytes:
        """The bytes of one request: HTTP/1.1 (keep-alive by default), with `body` as JSON when given."""
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
        if body is None:
            return f"{head}\r\n".encode()
        content = json.dumps(body).encode()
        return f"{head}Content-Type: application/json\r\nContent-Length: {len(content)}\r\n\r\n".encode() + content

    async def call(self, endpoint: str, request: bytes, connection: Connection | None = None) -> int | None:
        """Send one request (on the first connection unless told), count it under its route template; its status.

        An item read sends `If-None-Match` with the ETag kept of the item, if any; a 200 replaces the kept copy and
        ETag, a 304 leaves them. A lost connection is recorded in `dropped`, not raised, and the request is not
        counted as sent (None).
        """
        kept = self.copies.get(request) if endpoint == ITEM_READ else None
        etag = kept[0] if kept is not None else b""
        # The request ends with the blank line: the field goes before it.
        sent = request[:-2] + b"If-None-Match: " + etag + b"\r\n\r\n" if etag else request
        try:
            status, head, body = await (connection or self.connections[0]).exchange(sent)
        except LOST as error:
            self.dropped.append(f"{request.split(b' HTTP/1.1', 1)[0].decode()}: {error!r}")
            return None
        self.sent[endpoint] += 1
        self.statuses[status] += 1
        if endpoint == ITEM_READ and status == 200:
            self.copies[request] = (etag_of(head), body)
        return status

    def one(self, kind: str, rng: random.Random) -> bytes:
        """A request of the given kind with random parameters."""
        item = rng.randint(1, self.items)
        if kind == ITEM_READ:
            return self.request("GET", f"/items/{item}")
        if kind == "GET /items":
            return self.request("GET", f"/items?page={rng.randint(1, 20)}&size={rng.choice((10, 20))}")
        if kind == "PATCH /items/{item_id}":
            body = {"stock": rng.randint(0, 999), "price": round(rng.uniform(1, 500), 2)}
            return self.request("PATCH", f"/items/{item}", body)
        if kind == "GET /export/orders":
            day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            return self.request("GET", f"/export/orders?start_date={day}&end_date={day}")
        if kind == "GET /metrics":
            return self.request("GET", "/metrics")
        return self.request("GET", rng.choice(("/wp-admin/setup.php", "/.env", f"/items/{item}/x", "/admin")))

    async def drive(self, total: int, seed: int) -> tuple[float, float]:
        """Send `total` requests of the mix with one in flight per connection; (requests/s, client core share).

        The requests are drawn and built before the clock starts.
        """
        rng = random.Random(seed)
        kinds = rng.choices([kind for kind, _ in MIX], weights=[weight for _, weight in MIX], k=total)
        return await self.send_all([(kind, self.one(kind, rng)) for kind in kinds])

    async def send_all(self, plan: list[tuple[str, bytes]]) -> tuple[float, float]:
        """Send the (route template, request) pairs of `plan`, the connections taking them in turn from the list, one
        in flight on each; (requests/s, the client's CPU time over the wall time)."""
        todo = iter(plan)

        async def worker(connection: Connection) -> None:
            for kind, request in todo:
                await self.call(kind, request, connection)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(connection) for connection in self.connections))
        wall = time.perf_counter() - started
        return len(plan) / wall, (time.process_time() - cpu) / wall

    async def warm_up(self, pages: int) -> None:
        """Fill the cache to its bound, then run a short burst of the mix so that pools and buffers are sized."""
        for page in range(1, pages + 1):
            await self.call("GET /items", self.request("GET", f"/items?page={page}&size=10"))
        await self.send_all([(ITEM_READ, self.request("GET", f"/items/{item}")) for item in range(1, self.items + 1)])
        await self.drive(WARM_UP_REQUESTS, seed=1)

    def close(self) -> None:
        """Close every connection."""
        for connection in self.connections:
            connection.close()


def stale_items(soak_items: dict[int, dict[str, object]], database: Path) -> list[int]:
    """Ids whose kept copy differs from the database row."""
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
    client_share: float  # the client's CPU time over the drive's wall time
    memory_warm: dict[str, float]
    memory_end: dict[str, float]
    stale: list[int]  # items whose copy, refreshed by a 200 at the final read, differs from the database row
    stale_validators: list[int]  # items whose final read was a 304 while the copy differs from the database row
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
        rate, client_share = await soak.drive(requests, seed=7)
        if outage is not None:
            await outage
        memory_end = await probe_memory(pid, memory)
        cached, revalidated = {}, set()
        for item in range(1, soak.items + 1):
            read = soak.request("GET", f"/items/{item}")
            await soak.call(ITEM_READ, read)  # a miss at most, then a hit
            if await soak.call(ITEM_READ, read) == 304:  # the final read, with the ETag kept (or just refreshed)
                revalidated.add(item)
            cached[item] = json.loads(soak.copies[read][1]) if read in soak.copies else {}
        _, _, metrics = await soak.connections[0].exchange(soak.request("GET", "/metrics"))  # not counted: it reads
        counted = json.loads(metrics)["endpoints"]
    finally:
        soak.close()
    differing = stale_items(cached, database)
    stale = [item for item in differing if item not in revalidated]
    stale_validators = [item for item in differing if item in revalidated]
    return Outcome(rate, client_share, memory_warm, memory_end, stale, stale_validators, counted)


def server_command(tree: Path | None, memory: Path) -> tuple[list[str], Path | None]:
    """`perfshop serve` under the memory probe: with this interpreter, or with `tree`'s venv and `tree` as cwd."""
    python = str(tree / ".venv" / "bin" / "python") if tree else sys.executable
    probe = Path(__file__).resolve().parent / "support" / "memory_probe.py"
    return ["taskset", "-c", str(SERVER_CORE), python, str(probe), str(memory), "serve"], tree


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
        command, cwd = server_command(args.tree, memory)
        log = (Path(folder) / "server.log").open("w")
        server = subprocess.Popen(command, env=env, cwd=cwd, stderr=log)
        soak = Soak(port, items, args.concurrency, args.client_keep_alive)
        try:
            outcome = uvloop.run(soak_server(soak, server.pid, requests, database, redis, memory))
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
        "| requests | req/s | client CPU | 5xx | statuses | 304s | RSS after warm-up MB | RSS at end MB | growth MB "
        "| stale | stale validators | mismatches | lost |\n"
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    print(
        f"| {requests:,} | {outcome.rate:,.0f} | {100 * outcome.client_share:.0f} % | {server_errors} | "
        f"{dict(sorted(soak.statuses.items()))} | {soak.statuses[304]:,} | "
        f"{warm['rss']:.1f} | {end['rss']:.1f} | {growth:+.1f} | {len(outcome.stale)} | "
        f"{len(outcome.stale_validators)} | {len(mismatched)} | {len(soak.dropped)} |"
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
    if outcome.stale_validators:
        failures.append(
            f"{len(outcome.stale_validators)} items answered 304 to a copy that differs from the database (stale "
            f"validators), e.g. {outcome.stale_validators[:5]}"
        )
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
    health = soak.request("GET", "/health")
    while time.monotonic() < deadline:
        try:
            status, _, _ = await soak.connections[0].exchange(health)
        except LOST:
            await asyncio.sleep(0.1)
            continue
        soak.sent["GET /health"] += 1
        soak.statuses[status] += 1
        if status == 200:
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
    parser.add_argument(
        "--tree",
        type=lambda text: Path(text).resolve(),
        metavar="DIR",
        help="serve the perfshop checkout in DIR with its own .venv (cwd DIR); this tree's by default",
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
