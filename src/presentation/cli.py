# 실행 방법: uv run perfshop --help
"""The `perfshop` command: `serve` runs the service, `seed` loads generated orders and items."""

import argparse
import asyncio
import logging
import signal
import sys
import time

import uvicorn

from infrastructure.sqla.engine import is_sqlite, make_engine, prepare_database
from infrastructure.sqla.seed import load_items, load_orders
from presentation.app import settings_from_environment
from presentation.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `perfshop` console script."""
    parser = argparse.ArgumentParser(prog="perfshop", description="A fast, observable Litestar shop API.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the HTTP service (host, port and workers from PERFSHOP_* settings)")
    seed = commands.add_parser("seed", help="append deterministic generated orders and items")
    seed.add_argument("--orders", type=_count, default=1_250_000, help="orders to add (default 1,250,000)")
    seed.add_argument("--items", type=_count, default=1000, help="items to add (default 1000)")
    seed.add_argument("--seed", type=int, default=42, help="random seed: the same seed gives the same rows")
    args = parser.parse_args(argv)

    settings = settings_from_environment()
    if args.command == "serve":
        return serve(settings)
    return asyncio.run(seed_database(settings, orders=args.orders, items=args.items, seed=args.seed))


def _count(text: str) -> int:
    value = int(text.replace(",", "").replace("_", ""))
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def serve(settings: Settings) -> int:
    """Run uvicorn (uvloop, httptools) with the app factory; each worker builds its own app from the same settings."""
    if settings.workers > 1 and settings.redis_url is None:
        # Each worker would hold its own cache and metrics, and one worker's invalidation would not reach the others.
        sys.exit(
            f"perfshop: PERFSHOP_WORKERS={settings.workers} needs a cache shared by the workers; "
            "set PERFSHOP_REDIS_URL or run one worker"
        )
    # uvicorn drains, then raises the stop signal again after restoring this handler: exit 0, as asked.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "presentation.app:create_app",
        factory=True,
        # The C event loop and HTTP parser: on this service's hot paths they cost a fraction of asyncio's loop
        # and h11 (docs/benchmarks.md); uvloop does not run on Windows.
        loop="asyncio" if sys.platform == "win32" else "uvloop",
        http="httptools",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        # uvicorn builds each access line's arguments before its logger drops an INFO line: above INFO, skip it.
        access_log=logging.getLevelName(settings.log_level) <= logging.INFO,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
        timeout_keep_alive=settings.keep_alive_s,
    )
    return 0


async def seed_database(settings: Settings, *, orders: int, items: int, seed: int) -> int:
    """Create the schema if needed, then append the generated rows in one transaction."""
    engine = make_engine(settings.database_url)
    progress = ProgressBar(orders)
    try:
        await prepare_database(engine, demo_items=0, demo_orders=0)
        async with engine.connect() as conn:
            if is_sqlite(engine):
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                await load_items(conn, items, seed)
                await load_orders(conn, orders, seed, progress.advance)
    finally:
        await engine.dispose()
    progress.finish()
    return 0


class ProgressBar:
    """A one-line progress bar on stderr with the running rate."""

    def __init__(self, total: int, width: int = 30) -> None:
        self._total = total
        self._width = width
        self._done = 0
        self._started = time.perf_counter()

    def advance(self, rows: int) -> None:
        """Count `rows` more and redraw."""
        self._done += rows
        share = self._done / self._total if self._total else 1.0
        filled = int(share * self._width)
        bar = "#" * filled + "." * (self._width - filled)
        print(
            f"\r[{bar}] {share:4.0%} {self._done:,}/{self._total:,} orders {self._rate():,.0f}/s",
            end="",
            file=sys.stderr,
        )

    def finish(self) -> None:
        """End the bar's line with the totals."""
        elapsed = time.perf_counter() - self._started
        print(f"\nseeded {self._done:,} orders in {elapsed:.1f} s ({self._rate():,.0f} orders/s)", file=sys.stderr)

    def _rate(self) -> float:
        return self._done / max(time.perf_counter() - self._started, 1e-9)
