# 실행 방법: uv run python bench/export_bench.py [--orders 1250000] [--rounds 5] [--big 5000000] [--smoke]
"""CSV export over HTTP against the `sqlite3` tool writing the same rows, plus memory, /health p99 and count time."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import free_port, start_uvicorn, stop, wait_healthy

SERVER_CORE, CLIENT_CORE = 0, 1
FILTERS = {
    "all": ("", {}),
    "2024": ("WHERE created_at >= '2024-01-01' AND created_at < '2025-01-01'", {"year": "2024"}),
}


def seed(database_url: str, orders: int) -> None:
    """Append the deterministic generated orders to the database (a new SQLite file is created)."""
    env = {**os.environ, "PERFSHOP_DATABASE_URL": database_url}
    perfshop = Path(sys.executable).parent / "perfshop"
    subprocess.run(
        [perfshop, "seed", "--orders", str(orders), "--items", "0"], env=env, check=True, capture_output=True
    )


class Server:
    """uvicorn with one worker pinned to the server core, serving the database at `database_url`."""

    def __init__(self, database_url: str, batch_size: int) -> None:
        self.port = free_port()
        env = {
            "PERFSHOP_DATABASE_URL": database_url,
            "PERFSHOP_DEMO_ITEMS": "0",
            "PERFSHOP_DEMO_ORDERS": "0",
            "PERFSHOP_EXPORT_BATCH_SIZE": str(batch_size),
            "PERFSHOP_LOG_LEVEL": "WARNING",
        }
        self.process = start_uvicorn(self.port, env)
        os.sched_setaffinity(self.process.pid, {SERVER_CORE})
        wait_healthy(self.port, self.process)
        self.url = f"http://127.0.0.1:{self.port}"

    def rss_kb(self) -> int:
        """Resident memory of the server process now."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

    def stop(self) -> None:
        stop(self.process)


def http_export(server: Server, params: dict[str, str]) -> tuple[float, int]:
    """Seconds and bytes of one full download, the body read and thrown away."""
    started, size = time.perf_counter(), 0
    with httpx.stream("GET", f"{server.url}/export/orders", params=params, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
    return time.perf_counter() - started, size


def sqlite_tool(database: Path, where: str, out: Path) -> float:
    """Seconds the `sqlite3` tool takes to write the same rows as CSV (pinned to the server's core)."""
    sql = (
        "SELECT id, customer_name, product, quantity, printf('%.2f', unit_price), status, created_at "  # noqa: S608
        f"FROM orders {where} ORDER BY created_at, id"
    )
    started = time.perf_counter()
    with out.open("wb") as sink:
        subprocess.run(
            ["taskset", "-c", str(SERVER_CORE), "sqlite3", "-csv", "-header", str(database), sql],
            stdout=sink,
            check=True,
        )
    return time.perf_counter() - started


def rotated_rounds(server: Server, database: Path, rounds: int, folder: Path) -> dict[str, list[float]]:
    """Each peer once per round, the order rotated every round so that none always goes first."""
    peers = []
    for name, (where, params) in FILTERS.items():
        peers.append((f"http {name}", lambda params=params: http_export(server, params)[0]))
        if shutil.which("sqlite3"):
            peers.append((f"sqlite3 {name}", lambda where=where: sqlite_tool(database, where, folder / "out.csv")))
    times: dict[str, list[float]] = {name: [] for name, _ in peers}
    for index in range(rounds):
        for name, run in peers[index % len(peers) :] + peers[: index % len(peers)]:
            times[name].append(run())
    return times


def memory_and_health(server: Server) -> tuple[float, float, float]:
    """Peak RSS growth over idle (MB) during a full export, and /health p50/p99 (ms) meanwhile."""
    idle = server.rss_kb()
    peak, latencies, done = idle, [], threading.Event()

    def watch() -> None:
        nonlocal peak
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not done.is_set():
                peak = max(peak, server.rss_kb())
                started = time.perf_counter()
                client.get("/health").raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    http_export(server, {})
    done.set()
    watcher.join()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    return (peak - idle) / 1024, statistics.median(latencies) if latencies else float("nan"), p99


def count_ms(server: Server, runs: int = 5) -> float:
    """Median milliseconds of the count endpoint (count and size estimate) for all orders."""
    times = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for _ in range(runs):
            started = time.perf_counter()
            client.get("/export/orders/count").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    """Run every measurement and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_250_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-sizes", default="1000,5000,20000")
    parser.add_argument("--big", type=int, default=0, help="also measure memory with this many orders")
    parser.add_argument("--smoke", action="store_true", help="seconds: 20,000 orders, 1 round, batch 1000 only")
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CORE})
    orders, rounds = (20_000, 1) if args.smoke else (args.orders, args.rounds)
    sizes = [1000] if args.smoke else [int(size) for size in args.batch_sizes.split(",")]
    if not shutil.which("sqlite3"):
        print("sqlite3 tool not found (apt-get install sqlite3): its rows are skipped")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database = folder / "orders.db"
        seed(f"sqlite+aiosqlite:///{database}", orders)
        print("| batch size | peer | database | median s | vs sqlite3 |\n|---:|---|---|---:|---:|")
        for size in sizes:
            server = Server(f"sqlite+aiosqlite:///{database}", size)
            try:
                times = rotated_rounds(server, database, rounds, folder)
                if size == sizes[0]:
                    growth, p50, p99 = memory_and_health(server)
                    count = count_ms(server)
            finally:
                server.stop()
            for peer, values in times.items():
                floor = times.get("sqlite3 " + peer.split()[1])
                ratio = f"{statistics.median(values) / statistics.median(floor):.2f}x" if floor else "-"
                print(f"| {size:,} | {peer} | {orders:,} orders in DB | {statistics.median(values):.2f} | {ratio} |")
        print("\n| orders | RSS growth over idle MB | /health p50 ms | /health p99 ms | count ms |")
        print("|---:|---:|---:|---:|---:|")
        print(f"| {orders:,} | {growth:.1f} | {p50:.1f} | {p99:.1f} | {count:.1f} |")
        if args.big and not args.smoke:
            big = folder / "big.db"
            seed(f"sqlite+aiosqlite:///{big}", args.big)
            server = Server(f"sqlite+aiosqlite:///{big}", sizes[0])
            try:
                growth, p50, p99 = memory_and_health(server)
                count = count_ms(server)
            finally:
                server.stop()
            print(f"| {args.big:,} | {growth:.1f} | {p50:.1f} | {p99:.1f} | {count:.1f} |")


if __name__ == "__main__":
    main()
