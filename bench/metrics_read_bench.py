# 실행 방법: uv run python bench/metrics_read_bench.py [--rounds 5] [--recorded 1000000] [--peers DIR] [--smoke]
"""/metrics at 50 endpoints and 1,000,000 recorded requests, beside the textbook FastAPI app's, and where a read after
a second of traffic on every endpoint spends its time.

Each round runs every contender in a child process of its own (bench/support/metrics_read.py, pinned to core 1, the
order rotated), which records `--recorded` requests over 50 endpoints and then reads 21 times after a second of
traffic (1,000 requests) and 21 times with nothing new. perfshop's read is the /metrics use case plus its JSON
encoding, with every feature on (both objectives, a queue time on every request, loop lag every 50 ms); the textbook
peer's (`--peers DIR`: its requirements in a venv of their own) is its PerformanceStats.summary() and the JSON response
FastAPI makes of it. Then perfshop's read after traffic in phases (counting the second's values into the windows, the
50 summaries with their 900 percentiles, the document and its JSON), two of them beside their pure-Python floor.
Figures are the medians of the rounds' medians.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from fast_path_bench import clean_env, peer_venv

READ = Path(__file__).resolve().parent / "support" / "metrics_read.py"
THIS, TEXTBOOK = "perfshop", "textbook FastAPI"


def measured(python: Path, kind: str, recorded: int, reads: int, peers: Path | None) -> dict[str, float]:
    """One child's medians: bench/support/metrics_read.py run by `python`."""
    command = [str(python), str(READ), kind, str(recorded), str(reads), *([str(peers)] if peers else [])]
    done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} read failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the rounds and print the two Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--recorded", type=int, default=1_000_000, help="requests recorded before the reads")
    parser.add_argument("--peers", type=Path, help="the peers' folder, holding textbook-fastapi/")
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: 20,000 requests, one round")
    args = parser.parse_args()
    reads = 21
    if args.smoke:
        args.rounds, args.recorded, reads = 1, 20_000, 3

    with tempfile.TemporaryDirectory() as folder:
        contenders = {THIS: (Path(sys.executable), "this")}
        if args.peers is not None:
            venv = peer_venv(args.peers / "textbook-fastapi" / "requirements.txt", Path(folder) / "textbook-venv")
            contenders[TEXTBOOK] = (venv, "textbook")
        names = list(contenders)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                python, kind = contenders[name]
                rounds[name].append(measured(python, kind, args.recorded, reads, args.peers))

    def median(name: str, figure: str) -> float:
        return statistics.median(one[figure] for one in rounds[name])

    print(f"\n{args.rounds} rounds, rotated; 50 endpoints, {args.recorded:,} recorded requests; ms, medians.\n")
    print("| /metrics read | with nothing new | after 1 s of traffic on every endpoint | JSON bytes |")
    print("|---|---:|---:|---:|")
    for name in names:
        print(f"| {name} | {median(name, 'nothing_new'):.2f} | {median(name, 'after_traffic'):.2f} | "
              f"{median(name, 'bytes'):,.0f} |")  # fmt: skip
    if TEXTBOOK in rounds:
        print(f"| perfshop / textbook | {median(THIS, 'nothing_new') / median(TEXTBOOK, 'nothing_new'):.2f}x | "
              f"{median(THIS, 'after_traffic') / median(TEXTBOOK, 'after_traffic'):.2f}x | |")  # fmt: skip

    print("\n| perfshop's read after 1 s of traffic, in phases | ms | pure-Python floor of its work | ms |")
    print("|---|---:|---|---:|")
    counting, summaries = median(THIS, "counting"), median(THIS, "summaries")
    print(f"| counting the second's 3,000 values into 150 windows | {counting:.2f} | one list addition per value, "
          f"window and lifetime, nothing else | {median(THIS, 'counting_floor'):.2f} |")  # fmt: skip
    print(f"| 50 summaries, 900 percentiles among them | {summaries:.2f} | the 900 interpolations, each one's bucket "
          f"and count below it given | {median(THIS, 'percentiles_floor'):.2f} |")  # fmt: skip
    print(f"| the document and its JSON | {median(THIS, 'document'):.2f} | | |")


if __name__ == "__main__":
    main()
