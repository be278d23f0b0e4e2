# 실행 방법: uv run python bench/export_bench.py --peers DIR [--orders 1250000] [--big 5000000] [--rounds 5] [--smoke]
"""The order export over HTTP against the `sqlite3` tool and the textbook FastAPI peer, in one run on one file.

Every download is fetched by `curl -o /dev/null` pinned to core 1. Contenders, each in every round, the order
rotated every round:
- `sqlite3 -csv` writing the same rows (pinned to core 0): the floor;
- perfshop pinned to core 0, as CSV, CSV with `Accept-Encoding: zstd` and `gzip`, and `format=jsonl`;
- perfshop allowed both cores (CSV);
- the textbook FastAPI peer (`--peers DIR`: its `textbook-fastapi/export_app.py`, in a venv of its own), pinned to
  core 0.
Then memory growth over idle for every format and encoding (and for CSV at `--big` orders), `/health` latency
while one export runs, and the count endpoint with its size estimates against the real sizes.
`--smoke` runs in seconds on 20,000 orders, one round, without the peer and the big file.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tests.servers import free_port, start_perfshop, stop, wait_healthy

from fast_path_bench import clean_env, peer_venv
from support.markdown import table

SERVER_CORE, CLIENT_CORE = 0, 1
FILTERS = {
    "all": ("", ""),
    "2024": ("WHERE created_at >= '2024-01-01' AND created_at < '2025-01-01'", "year=2024"),
}
# Bytes on the wire of each download, by (filter, contender).
SIZES: dict[tuple[str, str], int] = {}
# What each perfshop download asks for: (query, Accept-Encoding).
KINDS = {
    "csv": ("", None),
    "csv zstd": ("", "zstd"),
    "csv gzip": ("", "gzip"),
    "jsonl": ("format=jsonl", None),
}


def seed(database_url: str, orders: int) -> None:
    """Append the deterministic generated orders to the database with `perfshop seed` (a SQLite file is created)."""
    env = {**os.environ, "PERFSHOP_DATABASE_URL": database_url}
    perfshop = Path(sys.executable).parent / "perfshop"
    subprocess.run(
        [perfshop, "seed", "--orders", str(orders), "--items", "0"], env=env, check=True, capture_output=True
    )


class Server:
    """A server process on loopback, optionally pinned to the server core, with its resident memory at hand."""

    def __init__(
        self, name: str, process: subprocess.Popen[bytes], port: int, *, pinned: bool, ready: str = "/health"
    ) -> None:
        self.name, self.process, self.port = name, process, port
        # Unpinned is every core: a child would otherwise inherit this process's client core.
        cores = {SERVER_CORE} if pinned else set(range(os.cpu_count() or 1))
        pin(process.pid, cores)
        wait_healthy(port, process, path=ready)
        pin(process.pid, cores)  # the threads started meanwhile too (database connections, workers)
        self.url = f"http://127.0.0.1:{port}"

    def rss_kb(self) -> int:
        """Resident memory of the serving process (the worker under a supervisor) now."""
        pid = max([self.process.pid, *children(self.process.pid)])
        status = Path(f"/proc/{pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

    def stop(self) -> None:
        stop(self.process)


def pin(pid: int, cores: set[int]) -> None:
    """Every thread of the process and of its children on `cores`; threads started later inherit it."""
    for process in [pid, *children(pid)]:
        for thread in Path(f"/proc/{process}/task").iterdir():
            os.sched_setaffinity(int(thread.name), cores)


def children(pid: int) -> list[int]:
    """The direct children of a process."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def perfshop(database_url: str, *, pinned: bool) -> Server:
    """`perfshop serve` on the database, as users run it."""
    port = free_port()
    env = {
        "PERFSHOP_DATABASE_URL": database_url,
        "PERFSHOP_DEMO_ITEMS": "0",
        "PERFSHOP_DEMO_ORDERS": "0",
        "PERFSHOP_LOG_LEVEL": "WARNING",
    }
    return Server("perfshop" if pinned else "perfshop 2 cores", start_perfshop(port, env), port, pinned=pinned)


def textbook(peers: Path, database: Path, folder: Path) -> Server:
    """The textbook FastAPI export app under uvicorn, in its own venv, reading the same file."""
    python = peer_venv(peers / "textbook-fastapi" / "requirements.txt", folder / "textbook-venv")
    port = free_port()
    command = [str(python), "-m", "uvicorn", "export_app:app", "--app-dir", str(peers / "textbook-fastapi")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    env = {**clean_env(), "PYTHONDONTWRITEBYTECODE": "1", "ORDERS_DB": str(database)}
    process = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return Server("textbook", process, port, pinned=True, ready="/openapi.json")


def curl(url: str, encoding: str | None = None) -> tuple[float, int]:
    """Seconds and bytes on the wire of one download by curl on the client core, the body thrown away."""
    command = [
        "taskset",
        "-c",
        str(CLIENT_CORE),
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{size_download}",
    ]
    command += ["-H", f"Accept-Encoding: {encoding}"] if encoding else []
    seconds, size = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout.split()
    return float(seconds), int(size)


def sqlite_tool(database: Path, where: str) -> tuple[float, int]:
    """Seconds and bytes of the `sqlite3` tool writing the same rows as CSV, pinned to the server core."""
    sql = (
        "SELECT id, customer_name, product, quantity, printf('%.2f', unit_price), status, created_at "  # noqa: S608
        f"FROM orders {where} ORDER BY created_at, id"
    )
    command = ["taskset", "-c", str(SERVER_CORE), "sqlite3", "-csv", "-header", str(database), sql]
    started = time.perf_counter()
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE).stdout
    return time.perf_counter() - started, len(output)


def url(server: Server, *queries: str) -> str:
    """The download's address with the queries that are not empty."""
    query = "&".join(q for q in queries if q)
    return f"{server.url}/export/orders" + (f"?{query}" if query else "")


class Peak:
    """The highest resident memory of a server over a stretch, sampled every 10 ms from another thread."""

    def __init__(self, server: Server) -> None:
        self.server, self.idle, self.peak = server, server.rss_kb(), 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, self.server.rss_kb())

    def __enter__(self) -> "Peak":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        """Peak over idle, in MB."""
        return max(0, self.peak - self.idle) / 1024


def contenders(servers: dict[str, Server], database: Path, name: str) -> dict[str, Callable[[], tuple[float, int]]]:
    """Every download of one filter, by label."""
    where, query = FILTERS[name]
    runs: dict[str, Callable[[], tuple[float, int]]] = {}
    if shutil.which("sqlite3"):
        runs["sqlite3 tool"] = lambda: sqlite_tool(database, where)
    for kind, (extra, encoding) in KINDS.items():
        runs[f"perfshop {kind}"] = lambda e=extra, c=encoding: curl(url(servers["perfshop"], query, e), c)
    runs["perfshop csv, 2 cores"] = lambda: curl(url(servers["perfshop 2 cores"], query))
    if "textbook" in servers:
        runs["textbook csv"] = lambda: curl(url(servers["textbook"], query))
    return runs


def rotated_rounds(servers: dict[str, Server], database: Path, rounds: int) -> dict[tuple[str, str], list[float]]:
    """Seconds of every download in every round, the order rotated each round; sizes checked to stay the same."""
    runs = [((name, label), run) for name in FILTERS for label, run in contenders(servers, database, name).items()]
    times: dict[tuple[str, str], list[float]] = {key: [] for key, _ in runs}
    for index in range(rounds):
        shift = index * len(runs) // max(rounds, 1)
        for key, run in runs[shift:] + runs[:shift]:
            seconds, size = run()
            times[key].append(seconds)
            SIZES[key] = size
    return times


def health_during_export(server: Server) -> tuple[float, float]:
    """`/health` p50 and p99 in ms, probed from another client every 10 ms while one whole CSV export runs."""
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # At least a few probes, however short the export (a smoke run's takes milliseconds).
            while len(latencies) < 3 or not done.is_set():
                started = time.perf_counter()
                client.get("/health").raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
                done.wait(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    curl(url(server))
    done.set()
    prober.join()
    latencies.sort()
    return statistics.median(latencies), latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]


def memory(database_url: str, label: str) -> list[str]:
    """Peak memory growth over idle of a freshly started server (one core) during one whole download, per kind."""
    row = [label]
    for extra, encoding in KINDS.values():
        server = perfshop(database_url, pinned=True)
        try:
            with Peak(server) as peak:
                curl(url(server, extra), encoding)
        finally:
            server.stop()
        row.append(f"{peak.growth_mb:.1f}")
    return row


def count_row(server: Server, orders: int) -> list[str]:
    """The count endpoint's median time of 5 and its estimates against the sizes the downloads really had."""
    took = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for _ in range(5):
            started = time.perf_counter()
            estimate = client.get("/export/orders/count").raise_for_status().json()
            took.append((time.perf_counter() - started) * 1000)
    real = {kind: SIZES.get(("all", f"perfshop {kind}"), 0) / 1e6 for kind in ("csv", "csv gzip", "csv zstd")}
    return [
        f"{orders:,}",
        f"{statistics.median(took):.1f}",
        f"{estimate['estimated_size_mb']} / {real['csv']:.1f}",
        f"{estimate.get('estimated_size_mb_gzip', '-')} / {real['csv gzip']:.1f}",
        f"{estimate.get('estimated_size_mb_zstd', '-')} / {real['csv zstd']:.1f}",
    ]


def ratio(values: list[float], floor: list[float] | None) -> str:
    return f"{statistics.median(values) / statistics.median(floor):.2f}x" if floor else "-"


def report(times: dict[tuple[str, str], list[float]]) -> None:
    """One table per filter: medians, sizes, and the ratios the targets are stated in."""
    for name in FILTERS:
        mine = {label: values for (f, label), values in times.items() if f == name}
        tool, csv, textbook_csv = mine.get("sqlite3 tool"), mine["perfshop csv"], mine.get("textbook csv")
        rows = []
        for label, values in mine.items():
            size = SIZES[(name, label)]
            rows.append(
                [
                    label,
                    f"{statistics.median(values):.2f}",
                    f"{min(values):.2f}–{max(values):.2f}",
                    f"{size / 1e6:.1f}",
                    ratio(values, tool),
                    ratio(values, textbook_csv),
                    ratio(values, csv),
                ]
            )
        print(f"### {name}\n")
        table(["download", "median s", "range s", "MB", "vs sqlite3", "vs textbook", "vs perfshop csv"], rows)


def main() -> None:
    """Seed, serve, download in rotated rounds, then print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peers", metavar="DIR", help="folder with textbook-fastapi/")
    parser.add_argument("--orders", type=int, default=1_250_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big", type=int, default=0, help="also measure CSV memory growth with this many orders")
    parser.add_argument("--smoke", action="store_true", help="seconds: 20,000 orders, 1 round, no peer, no big file")
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CORE})
    orders, rounds = (20_000, 1) if args.smoke else (args.orders, args.rounds)
    if not shutil.which("sqlite3"):
        print("sqlite3 tool not found (apt-get install sqlite3): its row and ratios are skipped\n")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database = folder / "orders.db"
        database_url = f"sqlite+aiosqlite:///{database}"
        seed(database_url, orders)
        servers = {
            "perfshop": perfshop(database_url, pinned=True),
            "perfshop 2 cores": perfshop(database_url, pinned=False),
        }
        try:
            if args.peers and not args.smoke:
                servers["textbook"] = textbook(Path(args.peers).resolve(), database, folder)
            times = rotated_rounds(servers, database, rounds)
            p50, p99 = health_during_export(servers["perfshop"])
            counted = count_row(servers["perfshop"], orders)
        finally:
            for server in servers.values():
                server.stop()
        growth = [memory(database_url, f"{orders:,}")]
        print(f"{orders:,} orders, medians of {rounds} rotated rounds\n")
        report(times)
        if args.big and not args.smoke:
            big = f"sqlite+aiosqlite:///{folder / 'big.db'}"
            seed(big, args.big)
            growth.append(memory(big, f"{args.big:,}"))
        print("### Memory growth over idle (MB), whole table, perfshop on one core\n")
        table(["orders", *KINDS], growth)
        print("### `/health` while one whole CSV export runs (perfshop on one core)\n")
        table(["p50 ms", "p99 ms"], [[f"{p50:.1f}", f"{p99:.1f}"]])
        print("### The count endpoint: estimate / real size (MB)\n")
        table(["orders", "ms", "csv", "gzip", "zstd"], [counted])


if __name__ == "__main__":
    main()
