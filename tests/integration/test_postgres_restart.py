"""PostgreSQL restarted under load: 503 with Retry-After, never a 500; recovery without a restart; no lost writes."""

import asyncio
import itertools
import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from infrastructure.sqla.engine import make_engine
from tests.private_postgres import private_cluster
from tests.servers import free_port, start_uvicorn, stop, wait_healthy
from tests.services import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.server]

OUTAGE_S = 1.5  # at least; the outage lasts until the load has been answered 503 too


async def item_names(url: str) -> set[str]:
    """Every item name stored in the database."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {row[0] for row in await conn.execute(text("SELECT name FROM items"))}
    finally:
        await engine.dispose()


class Load:
    """Threads that read and create items until stopped, keeping every answer."""

    def __init__(self, base: str, threads: int = 4) -> None:
        self.base = base
        self.statuses: Counter[int] = Counter()
        self.created: set[str] = set()
        self.attempted: set[str] = set()
        self.last_ok_write = 0.0
        self._names = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self._stop.is_set():
                name = f"load-{next(self._names)}"
                with self._lock:
                    self.attempted.add(name)
                created = client.post("/items", json={"name": name, "price": 1.5})
                read = client.get("/items", params={"size": 5})
                with self._lock:
                    self.statuses.update((created.status_code, read.status_code))
                    if created.status_code == 201:
                        self.created.add(name)
                        self.last_ok_write = time.monotonic()
                    elif created.status_code == 503:
                        assert created.headers["retry-after"] == "1"


def test_a_restarted_database_is_503_then_recovers_with_every_acknowledged_write(tmp_path: object) -> None:
    with private_cluster() as cluster:
        port = free_port()
        env = {
            "PERFSHOP_DATABASE_URL": cluster.url,
            "PERFSHOP_DEMO_ITEMS": "5",
            "PERFSHOP_DEMO_ORDERS": "0",
            "PERFSHOP_LOG_LEVEL": "ERROR",
        }
        server = start_uvicorn(port, env)
        try:
            wait_healthy(port, server)
            with Load(f"http://127.0.0.1:{port}") as load:
                wait_until(lambda: len(load.created) >= 10, "writes before the outage")
                cluster.stop()
                stopped = time.monotonic()
                wait_until(lambda: load.statuses[503] > 0 and time.monotonic() - stopped >= OUTAGE_S, "a 503")
                cluster.start()
                restarted = time.monotonic()
                wait_until(lambda: load.last_ok_write >= restarted, "a write after the restart")
                recovery_s = load.last_ok_write - restarted
        finally:
            stop(server)
            print(server.stdout.read().decode()[-6000:] if server.stdout else "")  # shown when the test fails
        stored = asyncio.run(item_names(cluster.url))

    print(f"statuses {dict(load.statuses)}; writes again {recovery_s:.2f} s after PostgreSQL was back")
    assert load.statuses[503] > 0  # the outage was seen...
    assert {status for status in load.statuses if status >= 500} == {503}  # ...and only ever as a 503
    assert 0 <= recovery_s < 10  # writes succeed again soon after the database is back, with no restart
    assert load.created <= stored  # every acknowledged write is there
    assert {name for name in stored if name.startswith("load-")} <= load.attempted  # and nothing else
