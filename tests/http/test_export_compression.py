"""The order export compressed on the wire: negotiation, one gzip member or zstd frame, disconnects, estimates."""

import gzip
import json
import zlib
from pathlib import Path

import pytest
import zstandard
from litestar import Litestar
from litestar.exceptions import LitestarException

from presentation.app import create_app
from tests.fakes import FakeOrderStream
from tests.http.asgi import stream_get
from tests.http.test_export import fake_app, polled, seeded_settings
from tests.services import eventually

RFC_9659_MAX_WINDOW = 8 * 1024 * 1024


def single_member_gzip(body: bytes) -> bytes:
    """`body` decoded as exactly one gzip member, as a decoder that stops at the end of the first one sees it."""
    decoder = zlib.decompressobj(wbits=31)
    decoded = decoder.decompress(body)
    assert decoder.eof
    assert decoder.unused_data == b""  # nothing after the first member
    return decoded


def single_zstd_frame(body: bytes) -> bytes:
    """`body` decoded as exactly one zstd frame, as a decoder that stops at the end of the first one sees it."""
    frame = zstandard.get_frame_parameters(body)
    assert frame.window_size <= RFC_9659_MAX_WINDOW
    assert frame.has_checksum
    decoder = zstandard.ZstdDecompressor().decompressobj()
    decoded = decoder.decompress(body)
    assert decoder.eof
    assert decoder.unused_data == b""  # nothing after the first frame
    return decoded


SINGLE = {"gzip": single_member_gzip, "zstd": single_zstd_frame}
ACROSS = {
    "gzip": gzip.decompress,
    "zstd": lambda body: zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(body),
}
INCREMENTAL = {
    "gzip": lambda: zlib.decompressobj(wbits=31),
    "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
}


async def download(app: Litestar, query: str = "", **headers: str) -> tuple[dict[str, str], list[bytes]]:
    """The response headers and the raw body chunks of one export, with the given request headers."""
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> bool:
        chunks.append(chunk)
        return True

    started = await stream_get(app, "/export/orders", query, on_chunk=keep, headers=headers)
    assert started["status"] == 200
    return {name.decode(): value.decode() for name, value in started["headers"].items()}, chunks


@pytest.fixture
async def app(database_url: str) -> Litestar:
    """The real app on 3,000 generated orders, read in batches of 250; a test serves it in its own event loop."""
    return create_app(settings=await seeded_settings(database_url, 3000, export_batch_size=250))


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
@pytest.mark.parametrize("query", ["", "year=2024&format=tsv", "delimiter=%3B&formula_guard=false"])
async def test_one_member_or_frame_that_decodes_to_the_plain_download(app: Litestar, coding: str, query: str) -> None:
    async with app.lifespan():
        plain_headers, plain_chunks = await download(app, query)
        headers, chunks = await download(app, query, **{"accept-encoding": coding})
    plain, body = b"".join(plain_chunks), b"".join(chunks)

    assert headers["content-encoding"] == coding
    assert "content-encoding" not in plain_headers
    assert headers["vary"] == plain_headers["vary"] == "Accept-Encoding"
    for name in ("content-type", "content-disposition"):
        assert headers[name] == plain_headers[name]
    assert "content-length" not in headers
    assert len(body) < len(plain) / 3
    assert SINGLE[coding](body) == plain
    assert ACROSS[coding](body) == plain

    # Each batch is flushed: every chunk but the trailer decodes at once into whole rows.
    decoder, decoded = INCREMENTAL[coding](), b""
    for chunk in chunks[:-1]:
        piece = decoder.decompress(chunk)
        assert piece.endswith(b"\n")
        decoded += piece
    assert decoded == plain
    assert len(chunks) >= 2 + 3  # the header, at least three batches of 250 rows, the trailer


NEGOTIATED = [
    ("gzip, deflate, br, zstd", "zstd"),  # what curl --compressed sends
    ("gzip, deflate, br", "gzip"),  # what a browser without zstd sends
    ("zstd;q=0.5, gzip", "gzip"),
    ("zstd;q=0, gzip;q=0", None),
    ("br", None),
    ("*", "zstd"),
    ("identity;q=0", None),
    ("*;q=0", None),
    ("gzip;q=lots", None),
    ("", None),
]


@pytest.mark.parametrize(("accept", "coding"), NEGOTIATED)
async def test_the_coding_negotiated_from_accept_encoding(tmp_path: Path, accept: str, coding: str | None) -> None:
    stream = FakeOrderStream(3)
    app = fake_app(tmp_path, stream)
    async with app.lifespan():
        headers, chunks = await download(app, **{"accept-encoding": accept})
        _, plain = await download(app)
    assert headers.get("content-encoding") == coding
    assert headers["vary"] == "Accept-Encoding"
    body = b"".join(chunks)
    assert (SINGLE[coding](body) if coding else body) == b"".join(plain)


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
async def test_a_client_that_leaves_a_compressed_export_frees_its_slot_and_stops_the_reading(
    tmp_path: Path, coding: str
) -> None:
    stream = FakeOrderStream(100_000)
    app = fake_app(tmp_path, stream, export_max_concurrent=1)
    read_at_disconnect: list[int] = []

    async def leave_after_three(_: bytes) -> bool:
        if not read_at_disconnect and stream.batches_read >= 3:
            read_at_disconnect.append(stream.batches_read)
            return False
        return True

    async with app.lifespan():
        start = await stream_get(app, "/export/orders", on_chunk=leave_after_three, headers={"accept-encoding": coding})
        await eventually(polled(lambda: stream.closed), lambda closed: closed > 0)
        assert start["status"] == 200
        assert start["headers"][b"content-encoding"] == coding.encode()
        # The compressor reads at most one batch ahead of what it has sent.
        assert stream.batches_read - read_at_disconnect[0] <= 2
        assert stream.closed == 1
        # The only slot is free again: the next export starts instead of getting 429.
        stream.total = 10
        headers, chunks = await download(app, **{"accept-encoding": coding})
    assert headers["content-encoding"] == coding
    assert SINGLE[coding](b"".join(chunks)).count(b"\n") == 11


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
async def test_a_compressed_export_that_fails_midway_ends_without_its_trailer(tmp_path: Path, coding: str) -> None:
    stream = FakeOrderStream(100_000, fail_after=5)
    app = fake_app(tmp_path, stream)
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> bool:
        chunks.append(chunk)
        return True

    async with app.lifespan():
        # The error reaches the server, which aborts the connection instead of ending the body.
        with pytest.raises(LitestarException, match="after response started"):
            await stream_get(app, "/export/orders", on_chunk=keep, headers={"accept-encoding": coding})
    decoder = INCREMENTAL[coding]()
    decoded = decoder.decompress(b"".join(chunks))
    assert decoded.startswith(b"\xef\xbb\xbfid,customer_name")
    assert not decoder.eof  # a cut download never looks complete to the client's decoder
    assert stream.closed == 1


@pytest.mark.parametrize("query", ["", "year=2024", "format=tsv", "year=1999"])
async def test_the_count_estimates_the_compressed_sizes(app: Litestar, query: str) -> None:
    body: list[bytes] = []

    async def keep(chunk: bytes) -> bool:
        body.append(chunk)
        return True

    async with app.lifespan():
        await stream_get(app, "/export/orders/count", query, on_chunk=keep)
        plain = b"".join((await download(app, query))[1])
        sizes = {
            coding: len(b"".join((await download(app, query, **{"accept-encoding": coding}))[1]))
            for coding in ("gzip", "zstd")
        }
    estimate = json.loads(b"".join(body))
    assert set(estimate) == {"count", "estimated_size_mb", "estimated_size_mb_gzip", "estimated_size_mb_zstd"}
    for coding, size in sizes.items():
        estimated = estimate[f"estimated_size_mb_{coding}"] * 1_000_000
        assert abs(estimated - size) <= 0.1 * size + 500, (coding, estimated, size)
        if estimate["count"]:
            assert 0.05 * len(plain) < estimated < 0.35 * len(plain)  # a plausible ratio for rows of text
