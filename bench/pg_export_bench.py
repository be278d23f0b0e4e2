# 실행 방법: uv run python bench/pg_export_bench.py [--orders 1250000] [--rounds 5] [--big 5000000] [--smoke]
"""CSV export from PostgreSQL over HTTP against `psql \\copy` of the plain rows and of the export's own SELECT, plus
server memory growth and `/health` during an export. perfshop and psql are pinned to core 0, curl to core 1; the
database server is not pinned."""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.export_bench import CLIENT_CORE, SERVER_CORE, Peak, curl, health_during_export, perfshop, seed, url

from domain.orders import Dialect
from infrastructure.sqla.pg_orders import copy_sql

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
FILTERS = {
    "all": ("", ""),
    "2024": (" WHERE created_at >= '2024-01-01' AND created_at < '2025-01-01'", "year=2024"),
}


def run_sql(dsn: str, statement: str) -> None:
    """Run one statement on the database at `dsn`."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def plain_select(where: str) -> str:
    """The rows as they are stored, in export order."""
    columns = "id, customer_name, product, quantity, unit_price, status, created_at"
    return f"SELECT {columns} FROM orders{where} ORDER BY created_at, id"  # noqa: S608


def psql_copy(dsn: str, query: str, out: Path) -> float:
    """Seconds `psql \\copy` takes to write the query's rows as CSV with a header (pinned to the server's core)."""
    started = time.perf_counter()
    subprocess.run(
        [
            "taskset",
            "-c",
            str(SERVER_CORE),
            "psql",
            "-X",
            "-q",
            "-d",
            dsn,
            "-c",
            f"\\copy ({query}) TO '{out}' CSV HEADER",
        ],
        check=True,
    )
    return time.perf_counter() - started


def rotated_rounds(server: Any, dsn: str, rounds: int, out: Path) -> dict[str, list[float]]:
    """Each peer once per round, the order rotated every round so that none always goes first."""
    peers: list[tuple[str, Callable[[], float]]] = []
    for name, (where, query) in FILTERS.items():
        peers.append((f"http {name}", lambda query=query: curl(url(server, query))[0]))
        if shutil.which("psql"):
            peers.append((f"psql {name}", lambda where=where: psql_copy(dsn, plain_select(where), out)))
            # The export's own SELECT (guard, empty strings, whole seconds): what the server's share costs.
            encoded = copy_sql(Dialect(), where)
            peers.append((f"psql-encoded {name}", lambda encoded=encoded: psql_copy(dsn, encoded, out)))
    times: dict[str, list[float]] = {name: [] for name, _ in peers}
    for index in range(rounds):
        for name, run in peers[index % len(peers) :] + peers[: index % len(peers)]:
            times[name].append(run())
    return times


def growth_mb(database_url: str) -> tuple[float, float]:
    """RSS growth over idle (MB) of a freshly started server during one full export, and /health p99 (ms)."""
    server = perfshop(database_url, pinned=True)
    try:
        with Peak(server) as peak:
            _, p99 = health_during_export(server)
    finally:
        server.stop()
    return peak.growth_mb, p99


def main() -> None:
    """Seed a database of its own, run every measurement, print Markdown tables, drop the database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_250_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big", type=int, default=0, help="also measure memory with this many orders in all")
    parser.add_argument("--smoke", action="store_true", help="seconds: 20,000 orders, 1 round")
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CORE})
    orders, rounds = (20_000, 1) if args.smoke else (args.orders, args.rounds)
    try:
        run_sql(ADMIN_URL, "SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        print(f"PostgreSQL is not reachable at {ADMIN_URL} ({error}): nothing measured")
        return
    if not shutil.which("psql"):
        print("psql not found (apt-get install postgresql-client): its rows are skipped")
    name = f"perfshop_bench_{uuid.uuid4().hex[:10]}"
    run_sql(ADMIN_URL, f'CREATE DATABASE "{name}"')
    dsn = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    database_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        seed(database_url, orders)
        run_sql(dsn, "VACUUM ANALYZE orders")
        with tempfile.TemporaryDirectory() as folder:
            server = perfshop(database_url, pinned=True)
            try:
                times = rotated_rounds(server, dsn, rounds, Path(folder) / "out.csv")
            finally:
                server.stop()
        print(f"\n{orders:,} orders, medians of {rounds} rotated rounds\n")
        print("| peer | median s | rounds s | vs psql | vs psql-encoded |\n|---|---:|---|---:|---:|")
        for peer, values in times.items():
            floors = (times.get("psql " + peer.split()[1]), times.get("psql-encoded " + peer.split()[1]))
            ratios = [f"{statistics.median(values) / statistics.median(f):.2f}x" if f else "-" for f in floors]
            rounds_text = " ".join(f"{value:.2f}" for value in values)
            print(f"| {peer} | {statistics.median(values):.2f} | {rounds_text} | {' | '.join(ratios)} |")
        print("\n| orders in the database | RSS growth over idle MB | /health p99 ms |\n|---:|---:|---:|")
        growth, p99 = growth_mb(database_url)
        print(f"| {orders:,} | {growth:.1f} | {p99:.1f} |")
        if args.big > orders and not args.smoke:
            seed(database_url, args.big - orders)
            run_sql(dsn, "VACUUM ANALYZE orders")
            growth, p99 = growth_mb(database_url)
            print(f"| {args.big:,} | {growth:.1f} | {p99:.1f} |")
    finally:
        run_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
