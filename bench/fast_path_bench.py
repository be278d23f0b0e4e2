# 실행 방법: uv run bench/fast_path_bench.py --baseline REV --peers DIR [--granian] [--rounds 5] [--seconds 5] [--smoke]
"""perfshop's hot paths over HTTP against a base commit of perfshop and against the peers, in one run.

Contenders, each served on core 0 (`taskset -c 0`) and bound to 127.0.0.1:
- this change: `perfshop serve` from the working tree (the venv's console script), profiling on, SQLite seeded
  with 1,000 items; the miss rows run on servers of their own with PERFSHOP_CACHE_MAX_ENTRIES=1, on SQLite and on
  PostgreSQL (a database this script creates and drops; the PostgreSQL server itself runs unpinned); the missing-id
  scan runs on one of its own with PERFSHOP_CACHE_NOT_FOUND_TTL=120 (404s of missing ids cached) when this tree's
  settings know that variable, and without it otherwise (perfshop refuses to start on a PERFSHOP_ variable it does
  not know);
- the baseline (`--baseline REV`): the same, from a temporary `git worktree` with a venv of its own synced from
  that commit's lock (`uv sync --frozen`), so that it runs the server stack it shipped with; removed afterwards;
- the peers (`--peers DIR`): the textbook FastAPI `cache_app.py` and bare Litestar `app.py`, each in a venv of its
  own under a temporary folder (`uv venv` + `uv pip install -r requirements.txt`), served by uvicorn on uvloop and
  httptools like perfshop;
- this change on Granian (`--granian`): the same app factory and settings served by `granian --interface asgi
  --factory --loop uvloop --http 1 --workers 1 --no-access-log` instead of `perfshop serve`'s uvicorn, with servers
  of its own for the miss rows; the run then also prints a table of uvicorn against Granian, row by row.

Every row is `wrk -t1 -c64 --latency` on core 1 (a Lua script where the row needs several ids, a body or a status
count), for `--seconds` per run, in `--rounds` rounds with the order of the rows (the missing-id scan among them) and
of the contenders within a row rotated each round; figures are medians: requests/s, server CPU µs per request and
wrk's 99th percentile latency in ms. The server's CPU per request is the utime+stime delta of the server process and
its descendants (/proc/PID/stat) over the run, divided by the requests wrk completed.

Two measurements are of this change alone, the baseline and the peers having no ETag:
- "304 revalidation GET /items/{id}": GET /items/1 with `If-None-Match: <the ETag GET /items/1 answers>` (fetched
  before each run), on this change and on Granian; every response must be a 304, which the row's script counts (wrk's
  own "Non-2xx or 3xx responses" counts statuses over 399 only: a 200, a validator that did not match, passes it).
  Its target is set against this change's cached GET 200 row of the same run.
- the missing-id scan: 10,000 ids that no item has, round r's from 1,000,001 + r × 10,000 on (the warm-up's after
  the last round's), so that each round's first pass finds none of them cached; each id requested exactly once per
  pass by 64 keep-alive connections of bench/soak.py's client, run in this process on core 1; two passes back to
  back, well within the TTL, every answer a 404. Per pass: requests/s, the client's core share, the database reads
  (the delta of /cache/stats `loads`, one per loader run) and the delta of `negative_hits` (n/a when the stats lack
  it); pass 2 / pass 1 is the median of each round's own ratio.

Last, this tree's `bench/soak.py` runs the same command against both trees' servers (`--tree`: the baseline's
`perfshop serve` from its own venv, both allowed 64 exports at once so that both serve every export of the mix),
alternating, and its requests/s is recorded with the share of its core the soak client used (a client at 90 % or
more of its core voids the figure: it measured the client; the missing-id scan's speed-up likewise).

`--smoke` runs in seconds without baseline and peers: one 1 s round of /health, cached GET, 304 revalidation and
(when PostgreSQL answers) the PostgreSQL miss path against this change, and on Granian too when granian is
installed, then the missing-id scan over 500 ids; a missing wrk, PostgreSQL or granian is a skip line, not a
failure.
"""

import argparse
import asyncio
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import uvloop

from soak import ITEM_READ, Soak

REPO = Path(__file__).resolve().parents[1]
SERVER_CORE, CLIENT_CORE = "0", "1"
CONNECTIONS = 64
ITEMS = 1000
MISS_IDS = 100  # the miss rows request ids 1..100 in turn, through a cache of one entry
PATCH_FIRST, PATCH_IDS = 2, 50  # the write rows change ids 2..51 in turn; the cached row reads id 1
MISSING_ID = 1_000_000
SCAN_FIRST, SCAN_IDS, SMOKE_SCAN_IDS = 1_000_001, 10_000, 500  # the missing-id scan's ids, per round
NEGATIVE_CACHING = {"PERFSHOP_CACHE_NOT_FOUND_TTL": "120"}  # the scan server's 404s cached, when the tree can
CLIENT_KEEP_ALIVE_S = 2.0  # below perfshop's PERFSHOP_KEEP_ALIVE_S (5): no request races the close of an idle one
CLIENT_VOID_SHARE = 0.90
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LATENCY_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # wrk's units in --latency
THIS, BASE, GRANIAN = "this change", "baseline", "this change on Granian"
REVALIDATION, CACHED = "304 revalidation GET /items/{id}", "cached GET /items/{id}"
SMOKE_ROWS = ("GET /health", CACHED, REVALIDATION, "miss path GET /items/{id}, PostgreSQL")


def lua_get_round_robin(first: int, count: int) -> str:
    """wrk script: GET /items/{id} over `count` ids from `first`, one after the other."""
    return f"""local n = 0
request = function()
  local id = {first} + n % {count}
  n = n + 1
  return wrk.format("GET", "/items/" .. id)
end
"""


def lua_write(method: str, first: int, count: int) -> str:
    """wrk script: PATCH or PUT /items/{id} over `count` ids, each body a new name and price."""
    return f"""local n = 0
wrk.headers["Content-Type"] = "application/json"
request = function()
  local id = {first} + n % {count}
  n = n + 1
  local body = string.format('{{"name":"Bench item %d","price":%d.%02d}}', n, 10 + n % 90, n % 100)
  return wrk.format("{method}", "/items/" .. id, nil, body)
end
"""


def lua_not_modified(path: str) -> str:
    """wrk script: GET `path` (wrk -H adds the If-None-Match), counting the responses that are not 304.

    wrk's own "Non-2xx or 3xx responses" counts statuses over 399 only (wrk 4.1, checked: a 200 passes it). The
    count lives in the thread's Lua state; done() runs in the main one and reads it through the thread.
    """
    return f"""wrk.path = "{path}"
local threads = {{}}
setup = function(thread)
  table.insert(threads, thread)
end
not_304 = 0
response = function(status)
  if status ~= 304 then
    not_304 = not_304 + 1
  end
end
done = function()
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("not_304")
  end
  io.write(string.format("Not 304: %d\\n", total))
end
"""


@dataclass(frozen=True)
class Load:
    """What wrk sends: one GET path, or a Lua script; and which statuses the row expects.

    `revalidate`: `path` is sent with `If-None-Match: <the ETag it answers with>`, fetched just before the run, and
    every response must be a 304 (the script is `lua_not_modified(path)`).
    """

    path: str
    script: str | None = None
    expect_404: bool = False
    revalidate: bool = False


@dataclass
class Server:
    """One server process pinned to the server core, with its log in a file."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    folder: Path
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / f"{re.sub(r'[^a-z0-9]+', '-', self.name.lower())}.log"

    def start(self) -> None:
        """Start the process in a session of its own, on the server core."""
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*pin(SERVER_CORE), *self.command],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 180) -> None:
        """Until `ready_path` answers 200, or fail with the log's tail."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with suppress(OSError):
                if http_get(self.port, self.ready_path)[0] == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready; log tail:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to its own process group after 15 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def cpu_seconds(self) -> float:
        """utime + stime of the server and of every live descendant."""
        assert self.process is not None
        return sum(process_cpu(pid) for pid in process_tree(self.process.pid))

    def stack(self) -> str:
        """Which of uvloop and httptools the process has mapped (C extensions show up in /proc/PID/maps)."""
        assert self.process is not None
        maps = "".join(Path(f"/proc/{pid}/maps").read_text() for pid in process_tree(self.process.pid))
        loop = "uvloop" if "uvloop" in maps else "asyncio loop"
        if "httptools" in maps:
            parser = "httptools"
        elif "granian" in maps:
            parser = "Granian's own HTTP/1 (Rust)"
        else:
            parser = "no httptools (h11)"
        return f"{loop}, {parser}"


@dataclass(frozen=True)
class Row:
    """One comparison: this change, the baseline and the peers, each a server and a load.

    This change on Granian runs `this`'s load on the server whose key has `granian` in place of `this`.
    """

    name: str
    this: tuple[str, Load] | None
    base: tuple[str, Load] | None = None
    peers: tuple[tuple[str, str, Load], ...] = ()  # (label, server key, load)


def pin(core: str) -> list[str]:
    """`taskset -c CORE` when there is a second core to pin to."""
    return ["taskset", "-c", core] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def process_tree(root: int) -> list[int]:
    """`root` and its live descendants, from the parent ids in /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def process_cpu(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    """Status and headers (names in lower case) of one GET on loopback, with `headers` sent."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the http:// URL above
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def current_etag(port: int, path: str) -> str:
    """The ETag a GET of `path` answers with now; fails unless the answer is a 200 with one."""
    status, headers = http_get(port, path)
    if status != 200 or "etag" not in headers:
        raise RuntimeError(f"GET {path} on port {port} -> {status}, ETag {headers.get('etag')}: nothing to revalidate")
    return headers["etag"]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This environment without perfshop settings, venv markers or uv's own run variables."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_RUN_RECURSION_DEPTH", "UV_INTERNAL__PARENT_INTERPRETER")
    return {k: v for k, v in os.environ.items() if not k.startswith("PERFSHOP_") and k not in drop}


def uv_command() -> list[str]:
    """The uv that runs this script (uv run exports it as UV), else the one on PATH, else `python3 -m uv`."""
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


def run_quietly(command: list[str], cwd: Path | None = None, timeout: float = 900) -> None:
    """Run a setup command; on failure raise with its output."""
    done = subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


@dataclass
class Wrk:
    """One wrk run's figures."""

    rps: float
    requests: int
    non_2xx: int
    socket_errors: str
    p99_ms: float
    p50_ms: float
    not_304: int | None  # counted by lua_not_modified's script; None for the other loads


def wrk(port: int, load: Load, seconds: int, folder: Path) -> Wrk:
    """wrk -t1 -c64 --latency on the client core for `seconds` against one load; bounded in time."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    if load.revalidate:
        command += ["-H", f"If-None-Match: {current_etag(port, load.path)}"]
    if load.script is not None:
        script = folder / f"load-{abs(hash(load.script))}.lua"
        script.write_text(load.script)
        command += ["-s", str(script), f"http://127.0.0.1:{port}"]
    else:
        command.append(f"http://127.0.0.1:{port}{load.path}")
    done = subprocess.run([*pin(CLIENT_CORE), *command], capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.MULTILINE)  # "1.02s " ends in a space
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.MULTILINE)
    not_304 = re.search(r"^Not 304: (\d+)$", out, re.MULTILINE)
    if done.returncode != 0 or not rps or not total or not p99 or not p50 or (load.revalidate and not not_304):
        raise RuntimeError(f"wrk failed on {load.path}:\n{out}{done.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return Wrk(float(rps.group(1)), int(total.group(1)), int(non_2xx.group(1)) if non_2xx else 0,
               errors.group(1) if errors else "", float(p99.group(1)) * LATENCY_UNITS_MS[p99.group(2)],
               float(p50.group(1)) * LATENCY_UNITS_MS[p50.group(2)],
               int(not_304.group(1)) if not_304 else None)  # fmt: skip


class Run(NamedTuple):
    """One contender's figures in one run (or their medians): requests/s, server CPU µs per request, p99 in ms."""

    rps: float
    us: float
    p99_ms: float


def measure(server: Server, load: Load, seconds: int, folder: Path) -> Run:
    """One run's figures; fails when the statuses are not the row's."""
    before = server.cpu_seconds()
    result = wrk(server.port, load, seconds, folder)
    used = server.cpu_seconds() - before
    if result.requests == 0:
        raise RuntimeError(f"{server.name} {load.path}: wrk completed no request")
    if load.revalidate:  # the script's count: wrk's own leaves the 3xx and 2xx alike out
        wrong, expected = result.not_304 or 0, "304 (a 200: the ETag sent did not match)"
    elif load.expect_404:
        wrong, expected = result.requests - result.non_2xx, "404"
    else:
        wrong, expected = result.non_2xx, "2xx"
    if wrong:
        raise RuntimeError(
            f"{server.name} {load.path}: {wrong} of {result.requests} responses were not {expected}; "
            f"log tail:\n{server.log.read_text()[-2000:]}"
        )
    if result.socket_errors:
        print(f"  note: {server.name} {load.path}: wrk socket errors {result.socket_errors}")
    return Run(result.rps, used / result.requests * 1e6, result.p99_ms)


# --- contenders ---------------------------------------------------------------------------------------------------


def perfshop_env(port: int, database_url: str, *, miss: bool) -> dict[str, str]:
    """perfshop's settings for a bench server: profiling on (the default), 1,000 seeded items, logging at WARNING."""
    env = {
        **clean_env(),
        "PERFSHOP_DATABASE_URL": database_url,
        "PERFSHOP_HOST": "127.0.0.1",
        "PERFSHOP_PORT": str(port),
        "PERFSHOP_DEMO_ITEMS": str(ITEMS),
        "PERFSHOP_DEMO_ORDERS": "0",
        "PERFSHOP_LOG_LEVEL": "WARNING",
    }
    if miss:
        env["PERFSHOP_CACHE_MAX_ENTRIES"] = "1"
    return env


def perfshop_server(
    name: str,
    perfshop: Path,
    folder: Path,
    database_url: str,
    *,
    miss: bool,
    cwd: Path | None = None,
    extra: dict[str, str] | None = None,
) -> Server:
    """`perfshop serve` (uvicorn on uvloop and httptools, one worker) with the bench settings and `extra` ones."""
    port = free_port()
    env = {**perfshop_env(port, database_url, miss=miss), **(extra or {})}
    return Server(name, [str(perfshop), "serve"], env, port, "/health", folder, cwd=cwd)


def granian_server(name: str, folder: Path, database_url: str, *, miss: bool) -> Server:
    """perfshop's app factory under Granian: the closest match to `perfshop serve` (1 worker, uvloop, HTTP/1)."""
    port = free_port()
    env = perfshop_env(port, database_url, miss=miss)
    command = [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--factory"]
    command += ["--loop", "uvloop", "--http", "1", "--workers", "1", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", "presentation.app:create_app"]
    return Server(name, command, env, port, "/health", folder)


def peer_server(name: str, python: Path, app_dir: Path, module: str, ready: str, folder: Path, **extra: str) -> Server:
    """A peer app under uvicorn on uvloop and httptools, its own venv, nothing written into its folder."""
    port = free_port()
    command = [str(python), "-m", "uvicorn", module, "--app-dir", str(app_dir), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    command += ["--log-level", "warning", "--no-access-log"]
    env = {**clean_env(), "PYTHONDONTWRITEBYTECODE": "1", **extra}
    return Server(name, command, env, port, ready, folder, cwd=folder)


def peer_venv(requirements: Path, venv: Path) -> Path:
    """`uv venv` + `uv pip install -r requirements.txt`; the venv's python."""
    uv = uv_command()
    run_quietly([*uv, "venv", "--quiet", "--python", os.path.realpath(sys.executable), str(venv)])
    python = venv / "bin" / "python"
    run_quietly([*uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements)])
    return python


@contextmanager
def baseline_tree(rev: str, folder: Path) -> Iterator[Path]:
    """A detached `git worktree` at `rev` with its own venv synced from its own lock; removed on exit."""
    tree = folder / "baseline"
    run_quietly(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev])
    try:
        uv = uv_command()
        run_quietly([*uv, "venv", "--quiet", "--python", os.path.realpath(sys.executable)], cwd=tree)
        # Runtime dependencies from the commit's own lock only: the soak's client is this tree's bench/soak.py, which
        # serves the baseline with `--tree`. Neither group of that lock holds uvloop or httptools.
        run_quietly([*uv, "sync", "--quiet", "--frozen", "--no-default-groups"], cwd=tree)
        yield tree
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=False)


# --- PostgreSQL -----------------------------------------------------------------------------------------------------


async def _pg_admin(dsn: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def pg_reachable(dsn: str) -> str | None:
    """None when the admin DSN answers, else why not."""
    try:
        asyncio.run(_pg_admin(dsn, "SELECT 1"))
    except Exception as error:  # noqa: BLE001 - refused, timed out, or asyncpg's own (auth, no database)
        return f"{type(error).__name__}: {error}"
    return None


@contextmanager
def pg_database(dsn: str, name: str) -> Iterator[str]:
    """A fresh database on the admin DSN's server, dropped on exit; yields perfshop's URL for it."""
    asyncio.run(_pg_admin(dsn, f'CREATE DATABASE "{name}"'))
    try:
        server = re.sub(r"^postgres(ql)?://", "", dsn).rsplit("/", 1)[0]
        yield f"postgresql+asyncpg://{server}/{name}"
    finally:
        asyncio.run(_pg_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- missing-id scan ------------------------------------------------------------------------------------------------


def negative_caching_refused() -> str | None:
    """None when this tree's settings take NEGATIVE_CACHING, else why not (perfshop would refuse to start)."""
    from presentation.settings import SettingsError, load_settings

    try:
        load_settings(NEGATIVE_CACHING)
    except SettingsError as error:
        return str(error)
    return None


class ScanPass(NamedTuple):
    """One pass of the missing-id scan."""

    requests: int
    rps: float
    client_share: float  # the client's CPU time over the pass's wall time
    loads: int  # database reads: the delta of /cache/stats `loads`, one per loader run
    negative_hits: int | None  # the delta of /cache/stats `negative_hits`; None when the stats have no such key


def scan_block(block: int, count: int) -> range:
    """The `block`-th run of `count` missing ids from SCAN_FIRST: one round's, none of them requested before."""
    return range(SCAN_FIRST + block * count, SCAN_FIRST + (block + 1) * count)


@contextmanager
def on_core(core: str) -> Iterator[None]:
    """This thread (and the threads it starts) on `core` for the block, when `pin` would pin a child there."""
    cores = os.sched_getaffinity(0)
    if pin(core):
        os.sched_setaffinity(0, {int(core)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)


def missing_id_scan(server: Server, ids: range) -> tuple[ScanPass, ScanPass]:
    """Pass 1 and pass 2 over `ids`, back to back, from bench/soak.py's client in this process on the client core."""
    with on_core(CLIENT_CORE):
        return uvloop.run(scan_passes(server, ids))


async def scan_passes(server: Server, ids: range) -> tuple[ScanPass, ScanPass]:
    """Both passes on CONNECTIONS keep-alive connections, opened (with an uncounted /health) before the first."""
    client = Soak(server.port, items=0, concurrency=CONNECTIONS, keep_alive=CLIENT_KEEP_ALIVE_S)
    health = client.request("GET", "/health")
    try:
        await asyncio.gather(*(connection.exchange(health) for connection in client.connections))
        return await scan_pass(client, server, ids), await scan_pass(client, server, ids)
    finally:
        client.close()


async def scan_pass(client: Soak, server: Server, ids: range) -> ScanPass:
    """Each id of `ids` requested once, the requests built before the clock; fails unless every answer is a 404."""
    plan = [(ITEM_READ, client.request("GET", f"/items/{item}")) for item in ids]
    stats = client.request("GET", "/cache/stats")
    before = json.loads((await client.connections[0].exchange(stats))[2])
    client.statuses.clear()
    rps, share = await client.send_all(plan)
    after = json.loads((await client.connections[0].exchange(stats))[2])
    if client.dropped or client.statuses != Counter({404: len(ids)}):
        raise RuntimeError(
            f"{server.name}: the missing-id scan's {len(ids):,} requests got {dict(client.statuses)} and "
            f"{len(client.dropped)} lost (e.g. {client.dropped[:3]}), not all 404; log tail:\n"
            f"{server.log.read_text()[-2000:]}"
        )
    hits = (after["negative_hits"] - before["negative_hits"]) if "negative_hits" in after else None
    return ScanPass(len(ids), rps, share, after["loads"] - before["loads"], hits)


# --- soak -----------------------------------------------------------------------------------------------------------


# Both servers serve every export of the mix: with the default limit of 4 at a time, the faster server, having more
# exports running at once, refused more of them with 429 (154-157 per run against 44-52), and a refused export is
# cheaper than a served one, which flattered its figure.
SOAK_EXPORT_LIMIT = "64"


@dataclass
class SoakRun:
    """One run of bench/soak.py."""

    rps: float
    client_share: float
    passed: bool
    figures: str  # the soak's own Markdown row: requests, req/s, client CPU, 5xx, statuses, RSS, stale, mismatches...


def soak(tree: Path, requests: int, folder: Path) -> SoakRun:
    """This tree's `bench/soak.py --requests N --tree TREE`; bounded in time.

    The client's core share is the soak's own figure: its CPU time over the drive of the mix divided by the drive's
    wall time (start-up, seeding and the checks left out).
    """
    command = [sys.executable, str(REPO / "bench" / "soak.py"), "--requests", str(requests), "--tree", str(tree)]
    out = folder / "soak.out"
    with out.open("w") as sink:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**clean_env(), "PERFSHOP_EXPORT_MAX_CONCURRENT": SOAK_EXPORT_LIMIT},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=1800)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{' '.join(command)} did not finish within 30 minutes") from None
        finally:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)  # the soak and the server it started
                process.wait(timeout=30)
    text = out.read_text()
    match = re.search(r"^\| [\d,]+ \| ([\d,]+) \| (\d+) % \|.*$", text, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no soak figures in the output of {' '.join(command)}:\n{text[-3000:]}")
    if process.returncode != 0:
        print(f"  note: soak of {tree.name} exited {process.returncode}:\n{text[-1500:]}")
    return SoakRun(float(match.group(1).replace(",", "")), int(match.group(2)) / 100, process.returncode == 0,
                   match.group(0))  # fmt: skip


# --- the run --------------------------------------------------------------------------------------------------------


def rows() -> list[Row]:
    """Every row; a contender whose server was not started is left out when the rounds run."""
    miss = Load("/items/{1..100}", lua_get_round_robin(1, MISS_IDS))
    patch = Load("PATCH /items/{2..51}", lua_write("PATCH", PATCH_FIRST, PATCH_IDS))
    put = Load("PUT /items/{2..51}", lua_write("PUT", PATCH_FIRST, PATCH_IDS))
    cached = Load("/items/1")
    revalidate = Load("/items/1", lua_not_modified("/items/1"), revalidate=True)
    return [
        Row(
            "miss path GET /items/{id}, SQLite",
            ("this-miss-sqlite", miss),
            ("base-miss-sqlite", miss),
            (("textbook GET /items/{missing id}", "textbook", Load(f"/items/{MISSING_ID}", expect_404=True)),),
        ),
        Row("miss path GET /items/{id}, PostgreSQL", ("this-miss-pg", miss), ("base-miss-pg", miss)),
        Row("GET /health", ("this", Load("/health")), ("base", Load("/health"))),
        Row("PATCH /items/{id}", ("this", patch), ("base", patch), (("textbook PUT /items/{id}", "textbook", put),)),
        Row(
            "GET /cache/stats",
            ("this", Load("/cache/stats")),
            ("base", Load("/cache/stats")),
            (("bare Litestar GET /stats", "bare", Load("/stats")),),
        ),
        Row(
            CACHED,
            ("this", cached),
            ("base", cached),
            (("textbook cached GET /items/1", "textbook", cached), ("bare Litestar GET /items/1", "bare", cached)),
        ),
        Row(REVALIDATION, ("this", revalidate)),
    ]


def contenders(row: Row, servers: dict[str, Server]) -> list[tuple[str, Server, Load]]:
    """(label, server, load) of the row's contenders whose server runs."""
    on_granian = (row.this[0].replace("this", "granian", 1), row.this[1]) if row.this else None
    found = []
    for label, spec in ((THIS, row.this), (GRANIAN, on_granian), (BASE, row.base)):
        if spec is not None and spec[0] in servers:
            found.append((label, servers[spec[0]], spec[1]))
    found += [(label, servers[key], load) for label, key, load in row.peers if key in servers]
    return found


def sanity_checks(servers: dict[str, Server]) -> list[str]:
    """The rows measure what they say: misses miss, hits hit, the ETag revalidates, the missing id is a 404."""
    lines = []
    for key, server in servers.items():
        port = server.port
        if key.endswith(("miss-sqlite", "miss-pg")):
            http_get(port, "/items/1")
            http_get(port, "/items/2")
            status, headers = http_get(port, "/items/1")
            lines.append(f"{server.name}: /items/1 after /items/2 -> {status} X-Cache {headers.get('x-cache')}")
        elif key in ("this", "granian", "base", "textbook"):
            http_get(port, "/items/1")
            status, headers = http_get(port, "/items/1")
            lines.append(
                f"{server.name}: /items/1 again -> {status} X-Cache {headers.get('x-cache')}"
                f", X-Response-Time {headers.get('x-response-time')}"
            )
            if key == "textbook":
                lines.append(f"{server.name}: /items/{MISSING_ID} -> {http_get(port, f'/items/{MISSING_ID}')[0]}")
            if key in ("this", "granian"):
                etag = current_etag(port, "/items/1")
                status = http_get(port, "/items/1", {"If-None-Match": etag})[0]
                lines.append(f"{server.name}: /items/1 with If-None-Match: {etag} -> {status} (a 200: no match)")
        elif key == "this-scan":  # an id below the scan's: none of its blocks is cached by the check
            lines.append(f"{server.name}: /items/{MISSING_ID} -> {http_get(port, f'/items/{MISSING_ID}')[0]}")
        elif key == "bare":
            lines.append(f"{server.name}: /stats -> {http_get(port, '/stats')[0]}")
    if "this" in servers and "granian" in servers:
        lines += same_answers(servers["this"], servers["granian"])
    return lines


def same_answers(uvicorn: Server, granian: Server) -> list[str]:
    """Statuses and header names of the same requests on uvicorn and on Granian; raises when a status differs."""
    lines = []
    for path in ("/health", "/items/1", f"/items/{MISSING_ID}", "/cache/stats"):
        (status, ours), (their_status, theirs) = http_get(uvicorn.port, path), http_get(granian.port, path)
        if status != their_status:
            raise RuntimeError(f"{path}: {status} on uvicorn, {their_status} on Granian")
        only_uvicorn, only_granian = sorted(ours.keys() - theirs.keys()), sorted(theirs.keys() - ours.keys())
        lines.append(
            f"uvicorn and Granian: {path} -> {status} on both; header names only on uvicorn: "
            f"{', '.join(only_uvicorn) or 'none'}; only on Granian: {', '.join(only_granian) or 'none'}; "
            f"Server {ours.get('server')} / {theirs.get('server')}"
        )
    return lines


Plan = list[tuple[Row, list[tuple[str, Server, Load]]] | Server]  # a Server: the missing-id scan's turn, on it


def run_rounds(
    servers: dict[str, Server],
    rounds: int,
    seconds: int,
    warm_up: bool,
    folder: Path,
    only: tuple[str, ...] = (),
    scan_ids: int = SCAN_IDS,
) -> tuple[dict[tuple[str, str], list[Run]], list[tuple[ScanPass, ScanPass]]]:
    """Every row's contenders (or the rows named in `only`) and the missing-id scan when its server runs; rows, scan
    and contenders rotated each round, the scan on round r's block of `scan_ids` ids (the warm-up's after them)."""
    chosen = [row for row in rows() if not only or row.name in only]
    plan: Plan = [(row, found) for row in chosen if (found := contenders(row, servers))]
    if "this-scan" in servers:
        plan.append(servers["this-scan"])
    if warm_up:
        for entry in plan:
            if isinstance(entry, Server):
                missing_id_scan(entry, scan_block(rounds, scan_ids))
                continue
            for _, server, load in entry[1]:
                wrk(server.port, load, 1, folder)
    results: dict[tuple[str, str], list[Run]] = {}
    scans: list[tuple[ScanPass, ScanPass]] = []
    for round_ in range(rounds):
        shift = round_ % len(plan)
        for entry in plan[shift:] + plan[:shift]:
            if isinstance(entry, Server):
                scans.append(missing_id_scan(entry, scan_block(round_, scan_ids)))
                continue
            row, found = entry
            turn = round_ % len(found)
            for label, server, load in found[turn:] + found[:turn]:
                results.setdefault((row.name, label), []).append(measure(server, load, seconds, folder))
        print(f"  round {round_ + 1}/{rounds} done, load average {os.getloadavg()[0]:.2f}", flush=True)
    return results, scans


def med(values: list[Run] | None) -> Run | None:
    """The runs' medians, figure by figure."""
    if not values:
        return None
    return Run(*(statistics.median(figures) for figures in zip(*values, strict=True)))


def fmt(run: Run | None) -> tuple[str, str, str]:
    """req/s, µs and p99 ms as table cells."""
    return (f"{run.rps:,.0f}", f"{run.us:,.0f}", f"{run.p99_ms:,.1f}") if run else ("n/a", "n/a", "n/a")


def ratio(ours: Run | None, theirs: Run | None) -> float | None:
    """Requests/s of ours over theirs."""
    return ours.rps / theirs.rps if ours and theirs and theirs.rps > 0 else None


def p99_ratio(ours: Run | None, theirs: Run | None) -> float | None:
    """p99 latency of ours over theirs: below 1, ours has the shorter tail."""
    return ours.p99_ms / theirs.p99_ms if ours and theirs and theirs.p99_ms > 0 else None


def times(value: float | None) -> str:
    """A ratio as a table cell."""
    return f"{value:.2f}x" if value else "n/a"


def report(
    results: dict[tuple[str, str], list[Run]],
    scans: list[tuple[ScanPass, ScanPass]],
    scan_setting: str,
    soaks: dict[str, list[SoakRun]],
    soak_command: str,
) -> None:
    """The per-round figures, the tables and the targets."""
    print("\nper run (req/s / µs per request / p99 ms), in round order:")
    for (name, label), values in results.items():
        print(f"  {name} | {label}: " + ", ".join(f"{r.rps:,.0f}/{r.us:,.0f}/{r.p99_ms:,.1f}" for r in values))
    for first, second in scans:
        print(
            f"  missing-id scan | {THIS}: pass 1 {first.rps:,.0f} req/s, {first.loads:,} reads, negative hits "
            f"{count(first.negative_hits)}; pass 2 {second.rps:,.0f} req/s, {second.loads:,} reads, negative hits "
            f"{count(second.negative_hits)}"
        )
    print("\n| row | perfshop req/s | CPU µs/request | p99 ms | baseline req/s | baseline µs/request "
          "| baseline p99 ms | ratio to baseline | peer | peer req/s | peer µs/request | peer p99 ms | ratio to peer "
          "| p99 ratio to peer |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    ratios: dict[str, float | None] = {}
    for row in rows():
        ours, base = med(results.get((row.name, THIS))), med(results.get((row.name, BASE)))
        if ours is None:
            continue
        to_base = ratio(ours, base)
        ratios[row.name] = to_base
        measured = [(label, med(results.get((row.name, label)))) for label, _, _ in row.peers]
        peers: list[tuple[str, Run | None]] = [(label, peer) for label, peer in measured if peer] or [("n/a", None)]
        for label, peer in peers:
            to_peer, p99_to_peer = ratio(ours, peer), p99_ratio(ours, peer)
            ratios[f"{row.name} / {label}"] = to_peer
            ratios[f"{row.name} / {label}, p99"] = p99_to_peer
            cells = [row.name, *fmt(ours), *fmt(base), times(to_base)]
            cells += [label if peer else "n/a", *fmt(peer), times(to_peer), times(p99_to_peer)]
            print("| " + " | ".join(cells) + " |")
    if any(label == GRANIAN for _, label in results):
        granian_table(results)
    speedup, reads = scan_table(scans, scan_setting) if scans else (None, None)
    soak_ratio = None
    if soaks:
        this_rps = statistics.median(r.rps for r in soaks[THIS]) if soaks.get(THIS) else None
        base_rps = statistics.median(r.rps for r in soaks[BASE]) if soaks.get(BASE) else None
        soak_ratio = this_rps / base_rps if this_rps and base_rps else None
        cells = [f"soak mix (`{soak_command}`)", f"{this_rps:,.0f}" if this_rps else "n/a", "n/a", "n/a"]
        cells += [f"{base_rps:,.0f}" if base_rps else "n/a", "n/a", "n/a", times(soak_ratio)]
        print("| " + " | ".join([*cells, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"]) + " |")
        print("\n| soak | req/s by run | median req/s | client core share by run | checks passed |")
        print("|---|---|---:|---|---|")
        for label, runs in soaks.items():
            print(
                f"| {label} | {', '.join(f'{r.rps:,.0f}' for r in runs)} | "
                f"{statistics.median(r.rps for r in runs):,.0f} | "
                f"{', '.join(f'{100 * r.client_share:.0f} %' for r in runs)} | "
                f"{sum(r.passed for r in runs)} of {len(runs)} |"
            )
        saturated = [r for runs in soaks.values() for r in runs if r.client_share >= CLIENT_VOID_SHARE]
        if saturated:
            soak_ratio = None
            print(f"\nsoak figure void: {len(saturated)} run(s) with the client at ≥ 90 % of its core")

    print("\ntargets:")
    revalidation = ratio(med(results.get((REVALIDATION, THIS))), med(results.get((CACHED, THIS))))
    targets = [  # (name, value, bar, whether the value must stay at or below the bar rather than reach it)
        ("miss path, SQLite ≥ 4× baseline", ratios.get("miss path GET /items/{id}, SQLite"), 4.0, False),
        ("miss path, PostgreSQL ≥ 4× baseline", ratios.get("miss path GET /items/{id}, PostgreSQL"), 4.0, False),
        ("GET /health ≥ 3× baseline", ratios.get("GET /health"), 3.0, False),
        ("PATCH ≥ 3× baseline", ratios.get("PATCH /items/{id}"), 3.0, False),
        (
            "GET /cache/stats ≥ 0.85× bare Litestar",
            ratios.get("GET /cache/stats / bare Litestar GET /stats"),
            0.85,
            False,
        ),
        ("cached GET ≥ 1.3× textbook peer", ratios.get(f"{CACHED} / textbook cached GET /items/1"), 1.3, False),
        ("cached GET ≥ 0.85× bare Litestar", ratios.get(f"{CACHED} / bare Litestar GET /items/1"), 0.85, False),
        ("cached GET p99 ≤ 1.5× bare Litestar's", ratios.get(f"{CACHED} / bare Litestar GET /items/1, p99"), 1.5, True),
        ("304 revalidation ≥ 1.0× this change's cached GET 200", revalidation, 1.0, False),
        ("missing-id scan pass 2 ≥ 5× pass 1", speedup, 5.0, False),
        ("soak ≥ 3× baseline", soak_ratio, 3.0, False),
    ]
    for name, value, bar, at_most in targets:
        met = value is not None and (value <= bar if at_most else value >= bar)
        verdict = "not measured" if value is None else f"{value:.2f}x, " + ("met" if met else "MISSED")
        print(f"- {name}: {verdict}")
    verdict = "not measured" if reads is None else f"{reads:,.0f}, " + ("MISSED" if reads else "met")
    print(f"- missing-id scan pass 2 reads the database 0 times (median): {verdict}")


def count(value: float | None) -> str:
    """A count as a table cell; n/a for a figure the server does not give."""
    return "n/a" if value is None else f"{value:,.0f}"


def scan_table(scans: list[tuple[ScanPass, ScanPass]], setting: str) -> tuple[float | None, float]:
    """The missing-id scan's medians; (median of the rounds' pass 2 / pass 1 req/s, median database reads of pass 2).

    The speed-up is None when the client used 90 % or more of its core in a pass: it measured the client.
    """
    first, second = [scan[0] for scan in scans], [scan[1] for scan in scans]
    speedup = statistics.median(two.rps / one.rps for one, two in scans)
    negative: list[float | None] = []  # n/a unless every round has the figure
    for passes in (first, second):
        known = [p.negative_hits for p in passes if p.negative_hits is not None]
        negative.append(statistics.median(known) if len(known) == len(passes) else None)
    print(f"\n| missing-id scan ({first[0].requests:,} ids a pass, {CONNECTIONS} connections) | pass 1 req/s "
          "| pass 2 req/s | pass 2 / pass 1 | DB reads pass 1 | DB reads pass 2 | negative hits pass 1 "
          "| negative hits pass 2 | client core share, pass 1 / pass 2 |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    cells = [f"{THIS} ({setting})", f"{statistics.median(p.rps for p in first):,.0f}"]
    cells += [f"{statistics.median(p.rps for p in second):,.0f}", times(speedup)]
    reads = statistics.median(p.loads for p in second)
    cells += [count(statistics.median(p.loads for p in first)), count(reads), count(negative[0]), count(negative[1])]
    cells.append(", ".join(f"{100 * one.client_share:.0f} % / {100 * two.client_share:.0f} %" for one, two in scans))
    print("| " + " | ".join(cells) + " |")
    if any(p.client_share >= CLIENT_VOID_SHARE for p in first + second):
        print("\nmissing-id scan speed-up void: a pass with the client at ≥ 90 % of its core")
        return None, reads
    return speedup, reads


def granian_table(results: dict[tuple[str, str], list[Run]]) -> None:
    """This change on uvicorn against this change on Granian: medians, and the ratio of each round's pair."""
    print("\n| row | uvicorn req/s | uvicorn µs/request | uvicorn p99 ms | Granian req/s | Granian µs/request "
          "| Granian p99 ms | Granian/uvicorn req/s | per-round req/s ratio, min–max | Granian/uvicorn µs/request "
          "| Granian/uvicorn p99 |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows():
        ours, theirs = results.get((row.name, THIS), []), results.get((row.name, GRANIAN), [])
        if not (uvicorn := med(ours)) or not (granian := med(theirs)):
            continue
        paired = [g.rps / u.rps for u, g in zip(ours, theirs, strict=True)]  # the same round, rows rotated together
        cells = [row.name, *fmt(uvicorn), *fmt(granian), times(ratio(granian, uvicorn))]
        cells += [f"{min(paired):.2f}–{max(paired):.2f}x", f"{granian.us / uvicorn.us:.2f}x"]
        cells.append(times(p99_ratio(granian, uvicorn)))
        print("| " + " | ".join(cells) + " |")


def src_digest() -> str:
    """A digest of the working tree's src/ (others edit it while the bench runs: a change shows up here)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted((REPO / "src").rglob("*.py")):
        digest.update(str(path).encode())
        with suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def run(args: argparse.Namespace) -> int:
    """Set up the contenders, measure, report; everything started is stopped in the end."""
    started = time.monotonic()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--short", "--", "src"], capture_output=True, text=True
    ).stdout.split("\n")
    dirty = [line for line in dirty if line.strip()]
    digest = src_digest()
    print(
        f"this change: working tree at {head.stdout.strip()}, {len(dirty)} uncommitted path(s) under src/, "
        f"src/ digest {digest}"
    )
    if not shutil.which("wrk"):
        print("SKIPPED: wrk is not installed (apt-get install wrk); no row can be measured")
        return 0
    if not pin(SERVER_CORE):
        print("note: taskset or a second core is missing: servers and wrk run unpinned")
    with tempfile.TemporaryDirectory(prefix="fast-path-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        servers: dict[str, Server] = {}
        perfshop = Path(sys.executable).parent / "perfshop"

        def sqlite(name: str) -> str:
            return f"sqlite+aiosqlite:///{folder / (name + '.db')}"

        servers["this"] = perfshop_server("this change", perfshop, folder, sqlite("this"), miss=False)
        refused = negative_caching_refused()
        negative = {} if refused else NEGATIVE_CACHING
        scan_setting = ", ".join(f"{name}={value}" for name, value in NEGATIVE_CACHING.items())
        if refused:
            print(f"missing-id scan: its server runs without {scan_setting}, which this tree refuses ({refused})")
            scan_setting = f"without {scan_setting}"
        servers["this-scan"] = perfshop_server(
            "this change, missing-id scan", perfshop, folder, sqlite("this-scan"), miss=False, extra=negative
        )
        if not args.smoke:
            servers["this-miss-sqlite"] = perfshop_server(
                "this change, miss, SQLite", perfshop, folder, sqlite("this-miss"), miss=True
            )
        pg_problem = pg_reachable(args.postgres)
        if pg_problem:
            print(f"SKIPPED: PostgreSQL rows, {args.postgres} does not answer ({pg_problem})")
        else:
            print("PostgreSQL: the database server runs unpinned (its CPU is not in the µs/request)")
            url = stack.enter_context(pg_database(args.postgres, f"perfshop_fast_path_{os.getpid()}_this"))
            servers["this-miss-pg"] = perfshop_server("this change, miss, PostgreSQL", perfshop, folder, url, miss=True)

        if args.granian and importlib.util.find_spec("granian") is None:
            print("SKIPPED: the Granian contender, granian is not installed (uv sync --group bench)")
        elif args.granian:
            servers["granian"] = granian_server(GRANIAN, folder, sqlite("granian"), miss=False)
            if not args.smoke:
                servers["granian-miss-sqlite"] = granian_server(
                    f"{GRANIAN}, miss, SQLite", folder, sqlite("granian-miss"), miss=True
                )
            if not pg_problem:
                url = stack.enter_context(pg_database(args.postgres, f"perfshop_fast_path_{os.getpid()}_granian"))
                servers["granian-miss-pg"] = granian_server(f"{GRANIAN}, miss, PostgreSQL", folder, url, miss=True)

        if args.baseline:
            tree = stack.enter_context(baseline_tree(args.baseline, folder))
            base_perfshop = tree / ".venv" / "bin" / "perfshop"
            name = f"baseline {args.baseline}"
            servers["base"] = perfshop_server(name, base_perfshop, folder, sqlite("base"), miss=False, cwd=tree)
            servers["base-miss-sqlite"] = perfshop_server(
                f"{name}, miss, SQLite", base_perfshop, folder, sqlite("base-miss"), miss=True, cwd=tree
            )
            if not pg_problem:
                url = stack.enter_context(pg_database(args.postgres, f"perfshop_fast_path_{os.getpid()}_base"))
                servers["base-miss-pg"] = perfshop_server(
                    f"{name}, miss, PostgreSQL", base_perfshop, folder, url, miss=True, cwd=tree
                )
        elif not args.smoke:
            print("no --baseline: baseline columns are n/a")

        if args.peers:
            peers = Path(args.peers).resolve()
            textbook, bare = peers / "textbook-fastapi", peers / "bare-litestar"
            textbook_py = peer_venv(textbook / "requirements.txt", folder / "venv-textbook")
            bare_py = peer_venv(bare / "requirements.txt", folder / "venv-bare")
            servers["textbook"] = peer_server(
                "textbook FastAPI", textbook_py, textbook, "cache_app:app", "/cache/stats", folder,
                ITEMS_DB=str(folder / "textbook-items.db"),
            )  # fmt: skip
            servers["bare"] = peer_server("bare Litestar", bare_py, bare, "app:app", "/stats", folder)
        elif not args.smoke:
            print("no --peers: peer columns are n/a")
        print(f"set-up took {time.monotonic() - started:.0f} s")

        # Stopped here, before the ExitStack drops the PostgreSQL databases and removes the worktree.
        try:
            for server in servers.values():
                server.start()
            for server in servers.values():
                server.wait_ready()
            print("\n| server | port | stack (mapped in /proc/PID/maps) |\n|---|---:|---|")
            for server in servers.values():
                print(f"| {server.name} | {server.port} | {server.stack()} |")
            print()
            for line in sanity_checks(servers):
                print(f"check: {line}")

            seconds = 1 if args.smoke else args.seconds
            rounds = 1 if args.smoke else args.rounds
            print(f"\n{rounds} round(s) of wrk -t1 -c{CONNECTIONS} -d{seconds}s, rotated; medians")
            only = SMOKE_ROWS if args.smoke else ()
            scan_ids = SMOKE_SCAN_IDS if args.smoke else SCAN_IDS
            results, scans = run_rounds(
                servers, rounds, seconds, warm_up=not args.smoke, folder=folder, only=only, scan_ids=scan_ids
            )

            soaks: dict[str, list[SoakRun]] = {}
            soak_command = f"python bench/soak.py --requests {args.soak_requests}"
            if args.smoke:
                print("soak skipped in --smoke (make test runs bench/soak.py --smoke on its own)")
            elif args.soak_requests > 0:
                for server in servers.values():  # the soak starts its own server on the same core
                    server.stop()
                trees = {THIS: REPO} | ({BASE: folder / "baseline"} if args.baseline else {})
                print(f"\nsoak: `{soak_command} --tree TREE` on each tree's server, {rounds} runs each, alternating")
                for round_ in range(rounds):
                    order = list(trees) if round_ % 2 == 0 else list(trees)[::-1]
                    for label in order:
                        if label == THIS and (now := src_digest()) != digest:
                            print(f"  note: src/ changed since the servers started (digest {now})")
                        outcome = soak(trees[label], args.soak_requests, folder)
                        soaks.setdefault(label, []).append(outcome)
                        print(
                            f"  soak {label}: client {100 * outcome.client_share:.0f} % of its core; {outcome.figures}"
                        )
            report(results, scans, scan_setting, soaks, soak_command)
        finally:
            for server in servers.values():
                server.stop()
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if (now := src_digest()) != digest:
        print(f"note: src/ changed during the run (digest {digest} at the start, {now} at the end)")
    print(f"run time: {time.monotonic() - started:.0f} s")
    return 0


def main() -> None:
    """Parse the options and run; SIGTERM ends the run through the clean-up path."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="REV", help="the perfshop commit to compare with (a git worktree)")
    parser.add_argument("--peers", metavar="DIR", help="folder with textbook-fastapi/ and bare-litestar/")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration of one run")
    parser.add_argument("--soak-requests", type=int, default=10_000, help="bench/soak.py --requests (0: no soak)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="admin DSN of the PostgreSQL server the PostgreSQL rows create their databases on",
    )
    parser.add_argument("--granian", action="store_true", help="also serve this change on Granian, same settings")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds: this change (and on Granian) only, one 1 s round, a scan of 500 missing ids, no soak",
    )
    args = parser.parse_args()
    if args.smoke:
        args.baseline = args.peers = None
        args.granian = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(run(args))


if __name__ == "__main__":
    main()
