# 실행 방법: uv run python bench/fuzz.py [--examples 500] [--smoke]
"""Contract fuzzing at depth: the test suite's schemathesis run with many more examples per operation."""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Run the contract fuzz test with the asked number of examples and print a Markdown row."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=500, help="examples per operation (CI's suite uses 50)")
    parser.add_argument("--smoke", action="store_true", help="5 examples per operation")
    args = parser.parse_args()
    examples = 5 if args.smoke else args.examples
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/contract"],
        cwd=ROOT,
        env={**os.environ, "FUZZ_EXAMPLES": str(examples)},
        capture_output=True,
        text=True,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    print("| examples per operation | outcome | seconds |")
    print("|---:|---|---:|")
    print(f"| {examples} | {summary} | {time.perf_counter() - started:.0f} |")
    if result.returncode:
        print(result.stdout[-5000:], file=sys.stderr)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
