# 실행 방법: uv run python bench/seed_speed.py [--orders 1250000] [--rounds 5] [--smoke]
"""Orders/s of `perfshop seed` into a fresh SQLite file, median of several rounds (target: 150,000/s)."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_round(orders: int, directory: Path, index: int) -> float:
    """Seconds `perfshop seed` takes to append `orders` orders to a new database."""
    env = {**os.environ, "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{directory / f'seed{index}.db'}"}
    perfshop = Path(sys.executable).parent / "perfshop"
    started = time.perf_counter()
    subprocess.run(
        [perfshop, "seed", "--orders", str(orders), "--items", "0"], env=env, check=True, capture_output=True
    )
    return time.perf_counter() - started


def main() -> None:
    """Run the rounds and print a Markdown table row."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_250_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a few seconds: 20,000 orders, 1 round")
    args = parser.parse_args()
    orders, rounds = (20_000, 1) if args.smoke else (args.orders, args.rounds)
    with tempfile.TemporaryDirectory() as folder:
        times = [one_round(orders, Path(folder), i) for i in range(rounds)]
    median = statistics.median(times)
    print("| orders | rounds | median s (whole command) | orders/s |")
    print("|---:|---:|---:|---:|")
    print(f"| {orders:,} | {rounds} | {median:.2f} | {orders / median:,.0f} |")


if __name__ == "__main__":
    main()
