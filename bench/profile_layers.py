# 실행 방법: uv run python bench/profile_layers.py [--row miss-sqlite] [--seconds 10] [--postgres DSN] [--smoke]
"""Where a hot path's server time goes, split by layer: py-spy samples `perfshop serve` under wrk load.

The server runs as in `bench/fast_path_bench.py` (pinned to core 0, profiling on, 1,000 items, the miss rows with
a cache of one entry) with wrk -t1 -c64 on core 1. py-spy samples every thread of the server at 200 Hz while wrk
runs (idle threads are not sampled), and each sample is counted under the layer of its innermost frame that
belongs to a known layer; a sample with no Python frame at all is the event loop's own C code (uvloop, the
socket calls). The split times the server's CPU µs per request (from /proc) gives µs per layer.

Rows: miss-sqlite, miss-postgres, cache-stats, cached-get, health. `--smoke` samples `/cache/stats` for 2 s; a
missing wrk or py-spy, or a py-spy that may not attach (ptrace), is a skip line, not a failure.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from fast_path_bench import (
    MISS_IDS,
    Load,
    Run,
    lua_get_round_robin,
    measure,
    perfshop_server,
    pg_database,
    pg_reachable,
)

# (layer, fragments of a frame's text that place it there), tried from the innermost frame outwards.
LAYERS = (
    ("asyncpg (driver)", ("asyncpg/",)),
    ("aiosqlite (driver thread, SQLite)", ("aiosqlite/",)),
    ("SQLAlchemy pool and greenlet hops", ("sqlalchemy/", "greenlet")),
    ("perfshop infrastructure (cache, repository, engine)", ("(infrastructure/",)),
    ("perfshop application and domain", ("(application/", "(domain/")),
    ("perfshop presentation (profiling, app layer, handlers)", ("(presentation/", "dishka")),
    ("Litestar (routing, parameters, response)", ("litestar/",)),
    ("uvicorn and httptools (server)", ("uvicorn/", "httptools")),
    ("msgspec", ("msgspec",)),
    ("event loop (uvloop, asyncio tasks and futures)", ("asyncio/", "uvloop", "contextlib.py", "<no frame>")),
)
ROWS = {
    "miss-sqlite": ("sqlite", True, Load("/items/{1..100}", lua_get_round_robin(1, MISS_IDS))),
    "miss-postgres": ("postgres", True, Load("/items/{1..100}", lua_get_round_robin(1, MISS_IDS))),
    "cache-stats": ("sqlite", False, Load("/cache/stats")),
    "cached-get": ("sqlite", False, Load("/items/1")),
    "health": ("sqlite", False, Load("/health")),
}


def layer_of(stack: list[str]) -> str:
    """The layer of the innermost frame that belongs to one."""
    for frame in reversed(stack):
        for name, fragments in LAYERS:
            if any(fragment in frame for fragment in fragments):
                return name
    return "other (typing, collections, logging...)"


def split(raw: Path) -> Counter[str]:
    """Samples per layer from py-spy's raw (collapsed) output; a thread's own line with no frame is the loop's C."""
    samples: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame for frame in stack.split(";") if not frame.startswith("thread (")]
        samples[layer_of(frames or ["<no frame>"])] += int(count)
    return samples


def profile(row: str, seconds: int, dsn: str, folder: Path, keep: Path | None) -> None:
    """Serve the row's server, load it with wrk while py-spy samples it, and print the split."""
    engine, miss, load = ROWS[row]
    perfshop = Path(sys.executable).parent / "perfshop"
    with ExitStack() as stack:
        if engine == "postgres":
            problem = pg_reachable(dsn)
            if problem:
                print(f"SKIPPED: {row}, PostgreSQL at {dsn} does not answer ({problem})")
                return
            url = stack.enter_context(pg_database(dsn, f"perfshop_profile_layers_{os.getpid()}"))
        else:
            url = f"sqlite+aiosqlite:///{folder / 'perfshop.db'}"
        server = perfshop_server(row, perfshop, folder, url, miss=miss)
        server.start()
        stack.callback(server.stop)
        server.wait_ready()
        assert server.process is not None
        measure(server, load, 1, folder)  # warm-up
        raw = folder / "samples.txt"
        figures: list[Run] = []
        loader = threading.Thread(target=lambda: figures.append(measure(server, load, seconds + 2, folder)))
        loader.start()
        spy = ["py-spy", "record", "--pid", str(server.process.pid), "--duration", str(seconds), "--rate", "200"]
        sampled = subprocess.run(
            [*spy, "--format", "raw", "--output", str(raw), "--threads", "--nonblocking"],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        loader.join()
        if sampled.returncode != 0 or not raw.exists():
            print(f"SKIPPED: {row}, py-spy could not sample the server: {sampled.stderr.strip()[-500:]}")
            return
    if keep is not None:
        shutil.copyfile(raw, keep.with_name(f"{keep.stem}-{row}{keep.suffix}"))
    rps, micros = figures[0].rps, figures[0].us
    samples = split(raw)
    total = sum(samples.values())
    print(f"\n{row}: {load.path}, {rps:,.0f} req/s, {micros:.0f} server CPU µs per request, {total:,} samples\n")
    print("| layer | share of samples | ≈ µs per request |")
    print("|---|---:|---:|")
    for name, count in samples.most_common():
        print(f"| {name} | {100 * count / total:.0f} % | {micros * count / total:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", choices=sorted(ROWS), action="append", help="repeatable; default: every row")
    parser.add_argument("--seconds", type=int, default=10, help="sampling time per row")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="admin DSN")
    parser.add_argument("--raw", type=Path, help="also keep py-spy's samples, as RAW-<row>.txt (flame graph input)")
    parser.add_argument("--smoke", action="store_true", help="seconds: /cache/stats sampled for 2 s")
    args = parser.parse_args()
    rows, seconds = (["cache-stats"], 2) if args.smoke else (args.row or list(ROWS), args.seconds)
    missing = [tool for tool in ("wrk", "py-spy") if shutil.which(tool) is None]
    if missing:
        print(f"SKIPPED: {', '.join(missing)} not found")
        return
    for row in rows:
        with tempfile.TemporaryDirectory() as folder:
            profile(row, seconds, args.postgres, Path(folder), args.raw)


if __name__ == "__main__":
    main()
