"""Access to the real servers on loopback: skipped when absent, failed instead when REQUIRE_SERVICES=1."""

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
import pytest
import redis

T = TypeVar("T")

# Deliberately not a PERFSHOP_ variable: it configures the tests, not the service.
POSTGRES_ADMIN_DSN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when the run requires every service."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    # Fixtures may be set up while an event loop already runs: give the admin call a loop of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=30)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def postgres_reachable() -> bool:
    """Whether the admin DSN accepts a connection."""
    try:
        _run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


@contextmanager
def fresh_postgres_database(label: str) -> Iterator[str]:
    """A new, empty database for this test run (dropped afterwards); yields its SQLAlchemy URL."""
    if not postgres_reachable():
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_DSN}")
    name = f"perfshop_{label}_{uuid.uuid4().hex[:10]}"
    _run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        dsn = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
        yield f"{dsn.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def postgres_value(url: str, query: str) -> Any:
    """The one value `query` answers, asked on a connection of its own to the database at SQLAlchemy `url`."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=30)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def empty_postgres_tables(url: str) -> None:
    """Remove every row a previous test left, so that each test starts from empty tables."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=30)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        if tables:
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY")
    finally:
        await conn.close()


def redis_reachable(url: str = REDIS_URL) -> bool:
    """Whether the Redis at `url` (the test Redis by default) answers a PING."""
    try:
        with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as client:
            client.ping()
    except (redis.RedisError, OSError):
        return False
    return True


@contextmanager
def fresh_redis_prefix(label: str) -> Iterator[str]:
    """A key prefix of this test run's own on the test Redis; its keys are deleted afterwards."""
    if not redis_reachable():
        unavailable(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"perfshop-test-{label}-{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=5) as client:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=5_000))
            if keys:
                client.delete(*keys)


class PrivateRedis:
    """A `redis-server` of the test's own on a free loopback port, without persistence, that it may stop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not redis_reachable(self.url):
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise AssertionError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)  # polled: the condition is another process's state, which signals nothing here

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen server run again."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server and reap it."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)  # a frozen server would not act on SIGTERM
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@contextmanager
def private_redis(port: int) -> Iterator[PrivateRedis]:
    """A running private Redis on `port`, stopped at the end whatever happens."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    server = PrivateRedis(port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 60.0) -> T:
    """Poll `probe` until `done` holds for its result, and return that result; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not done(result := await probe()):
        assert time.monotonic() < deadline, f"still {result!r} after {within} s"
        await asyncio.sleep(0.05)  # polled: the probe asks a server or another process, which signals nothing here
    return result


async def until(condition: Callable[[], bool], within: float = 60.0) -> None:
    """Yield to the event loop until `condition()` holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"the condition did not hold within {within} s"
        # Polled: the conditions are counters of the code under test, which signals nothing a test could await.
        await asyncio.sleep(0.001)


def wait_until(done: Callable[[], bool], what: str, within: float = 60.0) -> None:
    """Poll `done` (from synchronous code) until it holds; fail after `within` seconds, saying `what` was awaited."""
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        time.sleep(0.05)  # polled: the condition is another process's state, which signals nothing here
