"""SIGTERM on a real `perfshop serve`: in-flight requests finish, running exports are cut visibly, exit 0."""

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, start_perfshop, wait_healthy


def test_sigterm_drains_requests_aborts_exports_and_exits_zero(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shutdown.db'}",
        "PERFSHOP_DEMO_ITEMS": "10",
        "PERFSHOP_DEMO_ORDERS": "200000",
        "PERFSHOP_SHUTDOWN_GRACE_S": "10",
        "PERFSHOP_LOG_LEVEL": "WARNING",
    }
    server = start_perfshop(port, env)
    try:
        wait_healthy(port, server)
        base = f"http://127.0.0.1:{port}"
        slow: dict[str, int] = {}
        slow_call = threading.Thread(
            target=lambda: slow.update(status=httpx.get(f"{base}/slow/external-api", timeout=30).status_code)
        )
        with httpx.Client(timeout=30) as client, client.stream("GET", f"{base}/export/orders") as export:
            assert export.status_code == 200
            chunks = export.iter_bytes()
            first = next(chunks)  # the export is running; the client now reads nothing for a while
            slow_call.start()
            time.sleep(0.2)  # the slow request is in flight (it takes 500 ms)

            server.send_signal(signal.SIGTERM)

            with pytest.raises(httpx.RemoteProtocolError):  # cut, never a clean end of a short body
                for _ in chunks:
                    pass
        slow_call.join(timeout=30)
        assert server.wait(timeout=30) == 0, server.stdout.read().decode() if server.stdout else ""
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert first.startswith(b"\xef\xbb\xbf")
    assert slow == {"status": 200}  # the in-flight request was allowed to finish
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/health", timeout=2)
