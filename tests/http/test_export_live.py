"""Over a real socket: a failure after the headers cuts the download instead of ending it cleanly, and curl saves
the same file compressed or not."""

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, live_server, start_uvicorn, stop, wait_healthy
from tests.services import unavailable

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


@pytest.mark.parametrize("accept", [None, "gzip"], ids=["curl's own list", "gzip"])
def test_curl_compressed_saves_the_same_file(tmp_path: Path, accept: str | None) -> None:
    curl = shutil.which("curl")
    if curl is None:
        unavailable("curl is not installed")
        return
    # Without a header of its own, curl asks for every coding it was built with: zstd when it has it.
    built_with_zstd = "zstd" in subprocess.run([curl, "-V"], capture_output=True, text=True, check=True).stdout
    coding = accept or ("zstd" if built_with_zstd else "gzip")
    asked = ["-H", f"Accept-Encoding: {accept}"] if accept else []
    with live_server({**served(tmp_path), "PERFSHOP_DEMO_ORDERS": "5000"}) as url:
        for name, options in (("plain", []), ("compressed", ["--compressed", *asked])):
            command = [curl, "-sSf", *options, "-D", tmp_path / f"{name}.headers", "-o", tmp_path / name]
            subprocess.run([*command, f"{url}/export/orders?year=2024"], check=True, timeout=60)
    assert f"content-encoding: {coding}\n" in (tmp_path / "compressed.headers").read_text().lower()
    assert "content-encoding" not in (tmp_path / "plain.headers").read_text().lower()
    plain = (tmp_path / "plain").read_bytes()
    assert plain.count(b"\n") > 1000
    assert (tmp_path / "compressed").read_bytes() == plain
