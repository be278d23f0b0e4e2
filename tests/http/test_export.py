"""The order export end to end through the real app: contract, bad input, disconnects, limits, memory."""

import asyncio
import csv
import gc
import io
import json
import logging
import re
import threading
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import COLUMNS
from domain.ports import OrderStreamPort
from infrastructure.sqla.engine import make_engine, prepare_database
from infrastructure.sqla.seed import load_orders
from presentation.app import create_app
from presentation.settings import Settings
from tests.fakes import FakeOrderStream, Override
from tests.http.asgi import stream_get
from tests.services import empty_postgres_tables, eventually, postgres_value

T = TypeVar("T")
Client = AsyncTestClient  # type: ignore[type-arg]
BOM = b"\xef\xbb\xbf"


def polled(read: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """`read` as a probe for `eventually`, for state that the app's tasks change in this process."""

    async def probe() -> T:
        return read()

    return probe


async def seeded_settings(url: str, orders: int, **fields: Any) -> Settings:
    """Settings on the database at `url` after the generator has put `orders` orders into it."""
    engine = make_engine(url)
    await prepare_database(engine, demo_items=0, demo_orders=0)
    async with engine.begin() as conn:
        await load_orders(conn, orders, seed=42)
    await engine.dispose()
    return Settings(database_url=url, demo_items=0, demo_orders=0, **fields)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    """The real app on 3,000 generated orders (2023 to 2025), on each database."""
    application = create_app(settings=await seeded_settings(database_url, 3000))
    async with AsyncTestClient(app=application) as test_client:
        yield test_client


@pytest.fixture
async def sqlite_client(tmp_path: Path) -> AsyncIterator[Client]:
    """The real app on an empty SQLite file: input is checked before any database is read."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", demo_items=0, demo_orders=0)
    async with AsyncTestClient(app=create_app(settings=settings)) as test_client:
        yield test_client


async def test_the_download_is_bom_header_and_every_row_as_csv(client: Client) -> None:
    response = await client.get("/export/orders")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"orders_all.csv\"; filename*=UTF-8''orders_all.csv"
    )
    assert response.content.startswith(BOM + b"id,customer_name,product,quantity,unit_price,status,created_at\n")
    rows = list(csv.reader(io.StringIO(response.content[len(BOM) :].decode(), newline="")))
    assert rows[0] == list(COLUMNS)
    assert len(rows) == 3001
    assert [int(row[0]) for row in rows[1:]] == sorted(int(row[0]) for row in rows[1:])
    assert all(len(row) == 7 and row[4].count(".") == 1 and len(row[4].split(".")[1]) == 2 for row in rows[1:])
    assert any("\n" in row[2] for row in rows[1:])  # the generator's awkward product survives the round trip
    assert not any(row[1].startswith(("=", "+", "-", "@")) for row in rows[1:])


async def test_a_year_tsv_with_its_name_and_type_and_a_custom_delimiter(client: Client) -> None:
    tsv = await client.get("/export/orders", params={"year": "2024", "format": "tsv", "formula_guard": "false"})
    assert tsv.headers["content-type"] == "text/tab-separated-values; charset=utf-8"
    assert 'filename="orders_2024-01-01_2024-12-31.tsv"' in tsv.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(tsv.content[len(BOM) :].decode(), newline=""), delimiter="\t"))
    assert 900 < len(lines) - 1 < 1100
    assert all(row[6].startswith("2024-") for row in lines[1:])
    assert any(row[1].startswith("=") for row in lines[1:])  # the guard is off

    semi = await client.get(
        "/export/orders", params={"start_date": "2024-01-01", "end_date": "2024-12-31", "delimiter": ";"}
    )
    assert semi.content.startswith(BOM + b"id;customer_name;")
    assert len(list(csv.reader(io.StringIO(semi.content[3:].decode(), newline=""), delimiter=";"))) == len(lines)


async def test_open_ranges_start_or_end_where_asked(client: Client) -> None:
    since = await client.get("/export/orders", params={"start_date": "2025-06-01"})
    until = await client.get("/export/orders", params={"end_date": "2025-05-31"})
    assert 'filename="orders_from_2025-06-01.csv"' in since.headers["content-disposition"]
    assert since.content.count(b"\n2025") + until.content.count(b"\n") > 0
    total = (await client.get("/export/orders/count")).json()["count"]
    counted = [
        (await client.get("/export/orders/count", params=p)).json()["count"]
        for p in ({"start_date": "2025-06-01"}, {"end_date": "2025-05-31"})
    ]
    assert sum(counted) == total == 3000


@pytest.mark.parametrize(
    "params",
    [{}, {"year": "2024"}, {"format": "tsv"}, {"delimiter": "|", "formula_guard": "false"}, {"year": "1999"}],
)
async def test_the_count_and_a_size_estimate_within_5_percent(client: Client, params: dict[str, str]) -> None:
    estimate = (await client.get("/export/orders/count", params=params)).json()
    body = (await client.get("/export/orders", params=params)).content
    assert {"count", "estimated_size_mb"} <= set(estimate)  # the compressed estimates: test_export_compression.py
    assert estimate["count"] == body.count(b"\n") - 1 - body.count(b'\n"') - body.count(b"Gift Card\n")
    assert abs(estimate["estimated_size_mb"] * 1_000_000 - len(body)) <= 0.05 * len(body) + 500


def as_csv_fields(order: dict[str, Any]) -> list[str]:
    """A parsed JSON line as the CSV download's fields (without the guard) would hold it."""
    numbers = {"id": str(order["id"]), "quantity": str(order["quantity"]), "unit_price": f"{order['unit_price']:.2f}"}
    fields = {**order, **numbers, "created_at": order["created_at"].removesuffix("Z").replace("T", " ")}
    return [fields[name] for name in COLUMNS]


async def test_jsonl_is_one_object_a_line_without_bom_or_header(client: Client) -> None:
    response = await client.get("/export/orders", params={"format": "jsonl", "year": "2024"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    name = "orders_2024-01-01_2024-12-31.jsonl"
    assert response.headers["content-disposition"] == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    assert response.content.startswith(b'{"id":')  # no BOM, no header
    assert response.content.endswith(b"}\n")
    lines = response.content.split(b"\n")[:-1]
    rows = [json.loads(line) for line in lines]
    assert all(list(row) == list(COLUMNS) for row in rows)
    assert all(re.search(rb',"unit_price":\d+\.\d\d,', line) for line in lines)
    assert all(re.fullmatch(r"2024-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["created_at"]) for row in rows)
    assert any(row["customer_name"].startswith(("=", "+", "-", "@")) for row in rows)  # never guarded

    unguarded = await client.get("/export/orders", params={"year": "2024", "formula_guard": "false"})
    csv_rows = list(csv.reader(io.StringIO(unguarded.content[len(BOM) :].decode(), newline="")))[1:]
    assert [as_csv_fields(row) for row in rows] == csv_rows  # the same orders, the same text
    estimate = (await client.get("/export/orders/count", params={"format": "jsonl", "year": "2024"})).json()
    assert estimate["count"] == len(rows)
    assert abs(estimate["estimated_size_mb"] * 1_000_000 - len(response.content)) <= 0.05 * len(response.content)


BAD = [
    ({"start_date": "2024-02-30"}, "start_date"),
    ({"start_date": "2024/01/01"}, "start_date"),
    ({"end_date": "soon"}, "end_date"),
    ({"start_date": "2024-12-31", "end_date": "2024-01-01"}, "start_date"),
    ({"year": "2024", "start_date": "2024-01-01"}, "year"),
    ({"year": "1899"}, "year"),
    ({"year": "2101"}, "year"),
    ({"year": "twenty"}, "year"),
    ({"format": "xlsx"}, "format"),
    ({"format": "tsv", "delimiter": ";"}, "delimiter"),
    ({"format": "jsonl", "delimiter": ","}, "delimiter"),
    ({"delimiter": ""}, "delimiter"),
    ({"delimiter": ";;"}, "delimiter"),
    ({"delimiter": '"'}, "delimiter"),
    ({"delimiter": "\r"}, "delimiter"),
    ({"delimiter": "\n"}, "delimiter"),
    ({"delimiter": "\0"}, "delimiter"),
    ({"formula_guard": "maybe"}, "formula_guard"),
]


@pytest.mark.parametrize(("params", "field"), BAD)
@pytest.mark.parametrize("path", ["/export/orders", "/export/orders/count"])
async def test_bad_input_is_400_naming_the_parameter(
    sqlite_client: Client, path: str, params: dict[str, str], field: str
) -> None:
    response = await sqlite_client.get(path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"}
    assert [entry["key"] for entry in body["extra"]] == [field]


class Recorder(logging.Handler):
    """Keeps the records it sees (the app's start-up replaces the root handlers, caplog's among them)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_progress_is_logged_in_the_briefs_words(database_url: str) -> None:
    app = create_app(settings=await seeded_settings(database_url, 3000, export_batch_size=300))
    recorder = Recorder()
    logging.getLogger("perfshop.export").addHandler(recorder)
    try:
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/export/orders")).status_code == 200
    finally:
        logging.getLogger("perfshop.export").removeHandler(recorder)
    messages = [r.getMessage() for r in recorder.records]
    assert messages[0] == "CSV 내보내기 시작: 총 3,000건"
    # Batches of at most 300 rows cross each tenth once; the count is the rows sent so far, counted.
    progress = [re.fullmatch(r"진행: (\d+)% \(([\d,]+)/3,000\)", message) for message in messages[1:11]]
    assert [int(match[1]) for match in progress if match] == list(range(10, 101, 10))
    assert all(
        p * 30 <= int(match[2].replace(",", "")) < p * 30 + 300
        for p, match in zip(range(10, 101, 10), progress, strict=True)
    )
    assert messages[10] == "진행: 100% (3,000/3,000)"
    assert messages[11].startswith("CSV 내보내기 완료: 3,000건, 소요 시간 ")
    assert messages[11].endswith("초")


def fake_app(tmp_path: Path, stream: FakeOrderStream, **fields: Any) -> Litestar:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fake.db'}"
    settings = Settings(database_url=url, demo_items=0, demo_orders=0, export_batch_size=100, **fields)
    return create_app(Override(OrderStreamPort, stream), settings=settings)


async def test_a_client_that_leaves_stops_the_reading(tmp_path: Path) -> None:
    stream = FakeOrderStream(100_000)
    app = fake_app(tmp_path, stream)
    read_at_disconnect: list[int] = []

    async def leave_after_three(_: bytes) -> bool:
        if len(read_at_disconnect) == 0 and stream.batches_read >= 3:
            read_at_disconnect.append(stream.batches_read)
            return False
        return True

    async with AsyncTestClient(app=app):
        start = await stream_get(app, "/export/orders", on_chunk=leave_after_three)
        await eventually(polled(lambda: stream.closed), lambda closed: closed > 0)
    assert start["status"] == 200
    assert stream.batches_read - read_at_disconnect[0] <= 1
    assert stream.closed == 1


async def test_concurrent_exports_are_capped_with_429_and_retry_after(tmp_path: Path) -> None:
    stream = FakeOrderStream(10_000)
    app = fake_app(tmp_path, stream, export_max_concurrent=2)
    release = asyncio.Event()
    holding = 0

    async def hold(_: bytes) -> bool:
        nonlocal holding
        holding += 1
        await release.wait()
        return True

    async with AsyncTestClient(app=app) as client:
        running = [asyncio.create_task(stream_get(app, "/export/orders", on_chunk=hold)) for _ in range(2)]
        await eventually(polled(lambda: holding), lambda held: held == 2)  # both took their slot and started
        refused = await client.get("/export/orders")
        assert (await client.get("/health")).status_code == 200
        release.set()
        await asyncio.gather(*running)
        after = await client.get("/export/orders/count")
        again = await client.get("/export/orders")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["status_code"] == 429
    assert after.status_code == 200
    assert again.status_code == 200


async def test_other_requests_stay_responsive_during_an_export(tmp_path: Path) -> None:
    stream = FakeOrderStream(1_000_000)
    app = fake_app(tmp_path, stream)
    answered = asyncio.Event()

    async def fast_client(_: bytes) -> bool:
        # Takes every chunk at once, so the export never waits on its client: it has to give the loop back itself.
        return not answered.is_set()

    async with AsyncTestClient(app=app) as client:
        export = asyncio.create_task(stream_get(app, "/export/orders", on_chunk=fast_client))
        # This task gets its turn again while the export streams, or only once all 10,000 batches are sent.
        await eventually(polled(lambda: stream.batches_read), lambda read: read > 0)
        health = [(await client.get("/health")).status_code for _ in range(5)]
        assert not export.done()
        answered.set()
        await export
    assert health == [200] * 5


async def test_aborted_downloads_leak_no_connection_thread_or_memory(database_url: str) -> None:
    app = create_app(settings=await seeded_settings(database_url, 20_000, export_batch_size=500))

    async def leave(_: bytes) -> bool:
        return False

    # The app runs in this test's event loop (not the test client's thread): asyncpg connections belong to one loop.
    async with app.lifespan():
        engine = await app.state.dishka_container.get(AsyncEngine)
        for _ in range(10):  # warm up pools, caches and lazily created threads
            await stream_get(app, "/export/orders", on_chunk=leave)
        # An abandoned download is cleaned up over a few turns of the loop, however long they take.
        await eventually(polled(engine.pool.checkedout), lambda checked_out: checked_out == 0)
        gc.collect()
        threads = threading.active_count()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            await stream_get(app, "/export/orders", on_chunk=leave)

        def left_behind() -> tuple[int, int, int]:
            gc.collect()
            return engine.pool.checkedout(), threading.active_count(), tracemalloc.get_traced_memory()[0] - before

        try:
            # Connections back, no new thread, and less than 1 MB more memory: a leak never gets there. (Threads
            # of earlier tests may still end meanwhile, so fewer threads than before is no leak.)
            await eventually(
                polled(left_behind), lambda left: left[0] == 0 and left[1] <= threads and left[2] < 1_000_000
            )
        finally:
            tracemalloc.stop()
        assert (await stream_get(app, "/export/orders"))["status"] == 200  # every slot was given back


async def test_200k_rows_through_the_real_app_in_flat_memory(database_url: str) -> None:
    app = create_app(settings=await seeded_settings(database_url, 200_000))
    received = 0

    async def discard(chunk: bytes) -> bool:
        nonlocal received
        received += len(chunk)
        return True

    # The app runs in this test's event loop (not the test client's thread): asyncpg connections belong to one loop.
    async with app.lifespan():
        gc.collect()
        tracemalloc.start()
        start = tracemalloc.get_traced_memory()[0]
        status = (await stream_get(app, "/export/orders", on_chunk=discard))["status"]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert status == 200
    assert received > 14_000_000  # all 200,000 rows went through
    assert peak - start <= 10 * 1024 * 1024


@pytest.mark.postgres
async def test_a_client_that_leaves_cancels_the_copy_on_postgresql(postgres_url: str) -> None:
    await empty_postgres_tables(postgres_url)
    app = create_app(settings=await seeded_settings(postgres_url, 100_000))
    received: list[bytes] = []

    async def leave_after_one(chunk: bytes) -> bool:
        received.append(chunk)
        return len(received) < 2

    # The app runs in this test's event loop (not the test client's thread): asyncpg connections belong to one loop.
    async with app.lifespan():
        engine = await app.state.dishka_container.get(AsyncEngine)
        assert (await stream_get(app, "/export/orders", on_chunk=leave_after_one))["status"] == 200

        async def connections_and_copies() -> tuple[int, int]:
            return engine.pool.checkedout(), await running_copies(postgres_url)

        # Left alone, a COPY whose client stopped reading would wait on its socket for good.
        await eventually(connections_and_copies, lambda left: left == (0, 0))
        again = await stream_get(app, "/export/orders/count")
    assert again["status"] == 200
    assert 0 < sum(chunk.count(b"\n") for chunk in received) < 100_000


async def running_copies(url: str) -> int:
    """COPY statements that PostgreSQL is still running in the database at `url`."""
    return int(
        await postgres_value(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state <> 'idle' AND query ILIKE 'COPY%'",
        )
    )
