"""Real uvicorn processes for tests that need a live server."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_uvicorn(
    port: int, env: Mapping[str, str], factory: str = "presentation.app:create_app"
) -> subprocess.Popen[bytes]:
    """Start `uvicorn <factory> --factory` (the real app by default) on loopback with these settings."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def start_perfshop(port: int, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start `perfshop serve` (the console script users run) on `port` with these settings."""
    return subprocess.Popen(
        [Path(sys.executable).parent / "perfshop", "serve"],
        env={**os.environ, **env, "PERFSHOP_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 120, path: str = "/health") -> None:
    """Block until `path` (/health) answers 200, or fail with the server's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server on port {port} not healthy within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server and reap it."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def live_server(env: Mapping[str, str]) -> Iterator[str]:
    """A healthy server with these settings for the duration of the block; yields its base URL."""
    port = free_port()
    process = start_uvicorn(port, env)
    try:
        wait_healthy(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
