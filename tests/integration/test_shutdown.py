"""SIGTERM on a real `perfshop serve`: in-flight requests finish, running exports are cut visibly, exit 0."""

import signal
import socket
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, start_perfshop, wait_healthy

pytestmark = pytest.mark.server

# Pipelined on one connection: the server starts the second request as it finishes the first, in the same step,
# so once the health check's response is here the slow request (500 ms) is in flight.
HEALTH_THEN_SLOW = (
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /slow/external-api HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
)


def receive(conn: socket.socket, until: bytes | None = None) -> bytes:
    """What the server sends until it has sent `until`, or else until it closes the connection."""
    received = b""
    while until is None or not received.endswith(until):
        chunk = conn.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


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
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", f"{base}/export/orders") as export,
            socket.create_connection(("127.0.0.1", port), timeout=30) as pipelined,
        ):
            assert export.status_code == 200
            chunks = export.iter_bytes()
            first = next(chunks)  # the export is running; the client now reads nothing for a while
            pipelined.sendall(HEALTH_THEN_SLOW)
            health = receive(pipelined, until=b"}")  # the end of the health check's JSON body

            server.send_signal(signal.SIGTERM)

            with pytest.raises(httpx.RemoteProtocolError):  # cut, never a clean end of a short body
                for _ in chunks:
                    pass
            slow = receive(pipelined)  # the server closes the connection once it has answered
        assert server.wait(timeout=30) == 0, server.stdout.read().decode() if server.stdout else ""
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert first.startswith(b"\xef\xbb\xbf")
    assert health.startswith(b"HTTP/1.1 200 ")
    assert slow.startswith(b"HTTP/1.1 200 "), slow  # the in-flight request was allowed to finish
    assert slow.endswith(b'{"upstream":"ok"}')
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/health", timeout=2)
