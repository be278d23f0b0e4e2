"""Over a real socket: a failure after the headers cuts the download instead of ending it cleanly."""

from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, start_uvicorn, stop, wait_healthy

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]


def served(tmp_path: Path) -> dict[str, str]:
    return {
        "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
        "PERFSHOP_DEMO_ITEMS": "0",
        "PERFSHOP_DEMO_ORDERS": "0",
        "PERFSHOP_EXPORT_BATCH_SIZE": "100",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}",
    }


@pytest.mark.parametrize("fails", [True, False], ids=["failing stream", "healthy stream"])
def test_a_stream_that_fails_midway_aborts_the_connection(tmp_path: Path, fails: bool) -> None:
    factory = "tests.failing_app:create_failing_app" if fails else "presentation.app:create_app"
    port = free_port()
    server = start_uvicorn(port, served(tmp_path), factory=factory)
    try:
        wait_healthy(port, server)
        received = bytearray()

        def download() -> None:
            with httpx.stream("GET", f"http://127.0.0.1:{port}/export/orders", timeout=30) as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes():
                    received.extend(chunk)

        if fails:
            with pytest.raises(httpx.RemoteProtocolError):
                download()
        else:
            download()
    finally:
        stop(server)
    if fails:
        assert received.startswith(b"\xef\xbb\xbfid,customer_name")  # the headers and some rows had gone out
        assert 0 < received.count(b"\n") - 1 < 100_000
    else:
        assert received == b"\xef\xbb\xbfid,customer_name,product,quantity,unit_price,status,created_at\n"
