# 실행 방법: uv run python bench/queue_time_bench.py [--rounds 5] [--seconds 10] [--base REV] [--peers DIR] [--smoke]
"""How close perfshop's end-to-end times (queue + service, from X-Request-Start) come to what the client saw, and
what the profiling middleware with every feature on costs per request against a base commit's and the peers'.

End-to-end accuracy, one row per round and their medians: a fresh `perfshop serve` per round (this venv's console
script, PERFSHOP_TRUST_REQUEST_START=true, SQLite with 1,000 items and no orders, logging at WARNING, 127.0.0.1 on a
free port, core 0) loaded by `wrk -t1 -c64 --latency` on core 1 with a Lua script that stamps every request's
`X-Request-Start: t=<µs since the epoch>` (LuaJIT's FFI gettimeofday) on GET /items/1, a cached item. Right after
the run, GET /metrics?scope=local: `GET /items/{item_id}`'s window `e2e_p50_ms`/`e2e_p99_ms` (lifetime when the
window has none: the server is fresh, so both cover that round's load only) against wrk's p50 and p99 (targets:
within ±25 % and ±35 %), beside its service time alone (`p50_ms`, `p99_ms` of the same block) against wrk's.

Middleware cost, rounds with the order rotated, each timing a subprocess of bench/support/middleware_timing.py in the
venv of the code it times: µs per request of an ASGI app that only answers, bare and wrapped (20,000 direct calls
each); the added µs is wrapped minus bare. Rows: this tree's ProfilingMiddleware with every feature on (X-Request-Start
trusted and sent, both SLOs, the loop sampler running), the base commit's (`--base REV`: a temporary `git worktree`
with its own venv, removed afterwards; target ≤ +5 µs over it, the median of each round's difference), Litestar's
PrometheusMiddleware, and the textbook FastAPI app's BaseHTTPMiddleware (`--peers DIR`: its requirements in a venv
of their own). Figures are medians with the min–max over the rounds.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

from fast_path_bench import Load, baseline_tree, clean_env, peer_venv, perfshop_server, wrk

BENCH_DIR = Path(__file__).resolve().parent
TIMING = BENCH_DIR / "support" / "middleware_timing.py"
ENDPOINT = "GET /items/{item_id}"
STAMP = """local ffi = require("ffi")
ffi.cdef[[
typedef long time_t;
typedef struct timeval { time_t tv_sec; long tv_usec; } timeval;
int gettimeofday(struct timeval* t, void* tzp);
]]
local tv = ffi.new("timeval")

request = function()
  ffi.C.gettimeofday(tv, nil)
  wrk.headers["X-Request-Start"] = string.format("t=%d", tv.tv_sec * 1000000 + tv.tv_usec)
  return wrk.format("GET", "/items/1")
end
"""


class Accuracy(NamedTuple):
    """One round: wrk's p50 and p99, perfshop's end-to-end and service p50 and p99, all in ms."""

    wrk_p50: float
    wrk_p99: float
    e2e_p50: float
    e2e_p99: float
    service_p50: float
    service_p99: float


def metrics_report(port: int) -> dict[str, Any]:
    """This process's /metrics document."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?scope=local", timeout=10) as response:
        return dict(json.load(response))


def accuracy_round(folder: Path, round_: int, seconds: int) -> Accuracy:
    """A fresh server, one wrk run of stamped requests, then its /metrics."""
    database = f"sqlite+aiosqlite:///{folder / f'round-{round_}.db'}"
    perfshop = Path(sys.executable).parent / "perfshop"
    extra = {"PERFSHOP_TRUST_REQUEST_START": "true"}
    server = perfshop_server(f"perfshop round {round_}", perfshop, folder, database, miss=False, extra=extra)
    server.start()
    try:
        server.wait_ready()
        seen = wrk(server.port, Load("/items/1", script=STAMP), seconds, folder)
        endpoint = metrics_report(server.port)["endpoints"][ENDPOINT]
    finally:
        server.stop()
    if seen.non_2xx:
        raise RuntimeError(f"{seen.non_2xx} of {seen.requests} responses were not 2xx")
    block = endpoint["window"] if "e2e_p50_ms" in endpoint["window"] else endpoint
    return Accuracy(
        seen.p50_ms, seen.p99_ms, block["e2e_p50_ms"], block["e2e_p99_ms"], block["p50_ms"], block["p99_ms"]
    )


def accuracy_table(rounds: list[Accuracy]) -> None:
    """Each round and the medians (of values and of each round's ratios), with the targets' verdicts."""
    print("\n| round | wrk p50 ms | e2e p50 ms | e2e/wrk p50 | service p50 ms | service/wrk p50 "
          "| wrk p99 ms | e2e p99 ms | e2e/wrk p99 | service p99 ms | service/wrk p99 |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios = [(r.e2e_p50 / r.wrk_p50, r.service_p50 / r.wrk_p50, r.e2e_p99 / r.wrk_p99, r.service_p99 / r.wrk_p99)
              for r in rounds]  # fmt: skip
    for number, (r, q) in enumerate(zip(rounds, ratios, strict=True), 1):
        print(f"| {number} | {r.wrk_p50:.2f} | {r.e2e_p50:.2f} | {q[0]:.2f} | {r.service_p50:.2f} | {q[1]:.2f} "
              f"| {r.wrk_p99:.2f} | {r.e2e_p99:.2f} | {q[2]:.2f} | {r.service_p99:.2f} | {q[3]:.2f} |")  # fmt: skip
    m = Accuracy(*(statistics.median(column) for column in zip(*rounds, strict=True)))
    mq = [statistics.median(column) for column in zip(*ratios, strict=True)]
    print(f"| median | {m.wrk_p50:.2f} | {m.e2e_p50:.2f} | {mq[0]:.2f} | {m.service_p50:.2f} | {mq[1]:.2f} "
          f"| {m.wrk_p99:.2f} | {m.e2e_p99:.2f} | {mq[2]:.2f} | {m.service_p99:.2f} | {mq[3]:.2f} |")  # fmt: skip
    print(
        f"\ne2e/wrk p50 {mq[0]:.2f} (target 0.75–1.25): {'met' if abs(mq[0] - 1) <= 0.25 else 'MISSED'}; "
        f"e2e/wrk p99 {mq[2]:.2f} (target 0.65–1.35): {'met' if abs(mq[2] - 1) <= 0.35 else 'MISSED'}"
    )


def timed(python: Path, kind: str, requests: int, peers: Path | None) -> tuple[float, float]:
    """(bare, wrapped) µs per request of one kind, timed by a subprocess in `python`'s venv."""
    command = [str(python), str(TIMING), kind, str(requests), *([str(peers)] if peers else [])]
    done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} timing failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["bare"], figures["wrapped"]


def middleware_rows(args: argparse.Namespace, folder: Path, base: Path | None) -> dict[str, list[tuple[float, float]]]:
    """Each contender's (bare, wrapped) µs per round, the order rotated."""
    pythons = {"this tree, every feature on": (Path(sys.executable), "this"),
               "Litestar PrometheusMiddleware": (Path(sys.executable), "prometheus")}  # fmt: skip
    if base is not None:
        pythons[f"base {args.base}"] = (base / ".venv" / "bin" / "python", "base")
    if args.peers is not None:
        python = peer_venv(args.peers / "textbook-fastapi" / "requirements.txt", folder / "textbook-venv")
        pythons["textbook FastAPI BaseHTTPMiddleware"] = (python, "textbook")
    names = list(pythons)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            python, kind = pythons[name]
            results[name].append(timed(python, kind, args.requests, args.peers))
    return results


def middleware_table(results: dict[str, list[tuple[float, float]]], base: str | None) -> None:
    """Medians and min–max of wrapped and added µs; this tree against the base by each round's difference."""
    print("\n| middleware | µs/request wrapped | bare app µs | added µs (median) | added µs min–max |")
    print("|---|---:|---:|---:|---:|")
    added = {name: [wrapped - bare for bare, wrapped in runs] for name, runs in results.items()}
    for name, runs in results.items():
        wrapped = statistics.median(w for _, w in runs)
        bare = statistics.median(b for b, _ in runs)
        low, high = min(added[name]), max(added[name])
        print(f"| {name} | {wrapped:.2f} | {bare:.2f} | {statistics.median(added[name]):+.2f} "
              f"| {low:+.2f} – {high:+.2f} |")  # fmt: skip
    if base is not None:
        over = [ours - theirs for ours, theirs in zip(added["this tree, every feature on"], added[f"base {base}"],
                                                       strict=True)]  # fmt: skip
        verdict = "met" if statistics.median(over) <= 5 else "MISSED"
        print(
            f"\nthis tree over base {base}: {statistics.median(over):+.2f} µs/request median of the rounds' "
            f"differences (min–max {min(over):+.2f} – {max(over):+.2f}; target ≤ +5): {verdict}"
        )


def main() -> None:
    """Run both parts and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of one accuracy round")
    parser.add_argument("--requests", type=int, default=20_000, help="direct calls per middleware timing")
    parser.add_argument("--base", help="a base revision whose ProfilingMiddleware is timed too")
    parser.add_argument("--peers", type=Path, help="the peers folder (textbook-fastapi/profiling_app.py)")
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: one short round of each row")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.requests = 1, 1, 500

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        accuracy = [accuracy_round(folder, round_, args.seconds) for round_ in range(args.rounds)]
        print(f"{args.rounds} rounds: a fresh server on core 0, wrk -t1 -c64 -d{args.seconds}s --latency on core 1.")
        accuracy_table(accuracy)
        if args.base is None:
            results = middleware_rows(args, folder, None)
        else:
            with baseline_tree(args.base, folder) as tree:
                results = middleware_rows(args, folder, tree)
    print(f"\n{args.rounds} rounds, rotated; {args.requests:,} direct ASGI calls per timing.")
    middleware_table(results, args.base)


if __name__ == "__main__":
    main()
