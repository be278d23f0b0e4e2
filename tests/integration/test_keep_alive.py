"""Idle client connections are kept open for `PERFSHOP_KEEP_ALIVE_S` seconds, then closed by the server."""

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import free_port, start_perfshop, stop, wait_healthy

pytestmark = pytest.mark.server

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@contextmanager
def connection_to_perfshop(tmp_path: Path, keep_alive_s: int | None) -> Iterator[socket.socket]:
    """A real `perfshop serve` with this keep-alive (None: the default), and one open connection to it."""
    port = free_port()
    env = {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / f'keep-alive-{keep_alive_s}.db'}",
        "PERFSHOP_DEMO_ITEMS": "0",
        "PERFSHOP_DEMO_ORDERS": "0",
        "PERFSHOP_LOG_LEVEL": "WARNING",
    }
    if keep_alive_s is not None:
        env["PERFSHOP_KEEP_ALIVE_S"] = str(keep_alive_s)
    server = start_perfshop(port, env)
    try:
        wait_healthy(port, server)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            yield conn
    finally:
        stop(server)


def exchange(conn: socket.socket) -> bytes:
    """Send one request on the connection and read its whole (small) response."""
    conn.sendall(REQUEST)
    response = b""
    while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        response += chunk
    return response


def test_an_idle_connection_outlives_the_default_when_configured_longer(tmp_path: Path) -> None:
    with (
        connection_to_perfshop(tmp_path, keep_alive_s=3600) as configured,
        connection_to_perfshop(tmp_path, keep_alive_s=None) as default,
    ):
        assert exchange(configured).startswith(b"HTTP/1.1 200")
        assert exchange(default).startswith(b"HTTP/1.1 200")
        # Idle until a server with the default keep-alive has closed its idle connection, however late it gets to it.
        default.settimeout(60)
        assert default.recv(1) == b""

        assert exchange(configured).startswith(b"HTTP/1.1 200")


def test_an_idle_connection_is_closed_by_the_server_after_its_keep_alive(tmp_path: Path) -> None:
    with connection_to_perfshop(tmp_path, keep_alive_s=1) as conn:
        assert exchange(conn).startswith(b"HTTP/1.1 200")

        assert conn.recv(1) == b""  # the server closed it (the socket's 30 s timeout would raise instead)
