"""Drive one streamed request straight through the ASGI app, with control over the client side."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar

OnChunk = Callable[[bytes], Awaitable[bool]]


async def stream_get(
    app: Litestar, path: str, query: str = "", on_chunk: OnChunk | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """GET `path` with `headers`; `on_chunk` sees each body chunk and returns False to disconnect. Returns status
    and headers."""
    disconnected = asyncio.Event()
    started: dict[str, Any] = {}
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(status=message["status"], headers=dict(message["headers"]))
        elif message["type"] == "http.response.body":
            if on_chunk is not None and message["body"] and not await on_chunk(message["body"]):
                disconnected.set()
            if not message.get("more_body", False):
                disconnected.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return started
