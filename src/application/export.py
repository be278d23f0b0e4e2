"""Use cases of the order export: stream a period's orders as CSV/TSV/JSON Lines, and count them beforehand."""

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing

from msgspec import Struct

from application.compression import compressed, compressed_size
from domain.errors import Overloaded, Unavailable
from domain.orders import Dialect, Period, encode_header
from domain.ports import Clock, CompressionPort, OrderStreamPort, ShutdownSignal

logger = logging.getLogger("perfshop.export")

# Excel reads a CSV file as UTF-8 only when it starts with the byte order mark.
BOM = b"\xef\xbb\xbf"
SAMPLE_ROWS = 2000
RETRY_AFTER_SECONDS = 5


class ExportLimits(Struct, frozen=True):
    """Rows read per batch, and how many exports may run at once."""

    batch_size: int = 1000
    max_concurrent: int = 4


class Export(Struct, frozen=True):
    """A started export: its file name, content type and the body's chunks."""

    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]


class ExportEstimate(Struct, frozen=True):
    """How many orders an export would hold, and the body's expected size in MB (10^6 bytes), as it is and as
    each content coding would send it."""

    count: int
    estimated_size_mb: float
    estimated_size_mb_gzip: float
    estimated_size_mb_zstd: float


def _head(dialect: Dialect) -> bytes:
    """What the body starts with: the BOM and the header for CSV/TSV, nothing for JSON Lines."""
    return BOM + encode_header(dialect) if dialect.has_header else b""


class _Slots:
    """A fixed number of slots; each taken slot is given back exactly once, however its export ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._taken = 0

    def take(self) -> Callable[[], None]:
        """Take a slot, or Overloaded when none is free; returns the function that gives it back."""
        if self._taken >= self.limit:
            raise Overloaded(f"{self.limit} exports are already running", RETRY_AFTER_SECONDS)
        self._taken += 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self._taken -= 1

        return give_back


class StreamingCSVExporter:
    """Stream a period's orders in the asked dialect: BOM and header first, then bounded batches; compressed in
    the asked content coding, if any."""

    def __init__(
        self,
        orders: OrderStreamPort,
        clock: Clock,
        limits: ExportLimits,
        shutdown: ShutdownSignal,
        compression: CompressionPort,
    ) -> None:
        self._orders = orders
        self._compression = compression
        self._clock = clock
        self._shutdown = shutdown
        self._batch_size = limits.batch_size
        self._slots = _Slots(limits.max_concurrent)

    async def __call__(self, period: Period, dialect: Dialect, coding: str | None = None) -> Export:
        self._refuse_when_stopping()
        give_back = self._slots.take()
        try:
            started = self._clock()
            # Counted before the response starts, so that a database fault is still a clean error response.
            total = await self._orders.count(period)
        except BaseException:
            give_back()
            raise
        logger.info("%s 내보내기 시작: 총 %s건", dialect.format.upper(), f"{total:,}")
        chunks = self._chunks(period, dialect, total, started, give_back)
        # A stream the server never starts (the client left first) never runs its `finally`; the slot is then
        # given back when the stream is garbage-collected.
        weakref.finalize(chunks, give_back)
        body = compressed(chunks, self._compression.open(coding)) if coding else chunks
        filename = f"orders_{period.label()}.{dialect.format}"
        return Export(filename=filename, media_type=dialect.media_type, chunks=body)

    async def _chunks(
        self, period: Period, dialect: Dialect, total: int, started: float, give_back: Callable[[], None]
    ) -> AsyncGenerator[bytes, None]:
        try:
            if dialect.has_header:
                yield _head(dialect)
            done, logged_tenths = 0, 0
            # Closed as soon as the client leaves, not when the garbage collector gets to it: the adapter then
            # stops its query and gives its connection back at once.
            async with aclosing(self._orders.batches(period, dialect, self._batch_size)) as batches:
                async for batch in batches:
                    yield batch.data
                    # A download can outlast any shutdown grace period: stop it now, and visibly (the connection
                    # is aborted, never ended cleanly), rather than have it cut off at an arbitrary byte later.
                    self._refuse_when_stopping()
                    # A scheduling point per batch: other requests, and the news that the client left, get a turn
                    # even when neither the database nor the socket made this task wait.
                    await asyncio.sleep(0)
                    done += batch.rows
                    tenths = min(done * 10 // total, 10) if total else 10
                    if tenths > logged_tenths:
                        logger.info("진행: %d%% (%s/%s)", tenths * 10, f"{done:,}", f"{total:,}")
                        logged_tenths = tenths
            elapsed = self._clock() - started
            logger.info("%s 내보내기 완료: %s건, 소요 시간 %.1f초", dialect.format.upper(), f"{done:,}", elapsed)
        finally:
            give_back()

    def _refuse_when_stopping(self) -> None:
        if self._shutdown.requested():
            raise Unavailable("the service is shutting down; retry the export on another instance")


class CountExport:
    """How many orders an export of the period holds and how big its body will be, plain and compressed."""

    def __init__(self, orders: OrderStreamPort, compression: CompressionPort, limits: ExportLimits) -> None:
        self._orders = orders
        self._compression = compression
        self._batch_size = limits.batch_size

    async def __call__(self, period: Period, dialect: Dialect) -> ExportEstimate:
        count = await self._orders.count(period)
        # No more rows than the period holds: the two ends of a small period would overlap, and the rows read
        # twice would look to a compressor like a body that repeats itself.
        sample = await self._orders.sample(period, dialect, min(SAMPLE_ROWS, count)) if count else None
        rows = count * len(sample.data) / sample.rows if sample and sample.rows else 0
        start = _head(dialect)
        size = len(start) + rows
        # Each coding shrinks the whole body as much as it shrinks the start and the sample, cut and flushed like
        # the download's batches: a flush costs a small batch a good part of its gain.
        chunks = [start]
        if sample and sample.rows:
            step = max(1, len(sample.data) * self._batch_size // sample.rows)
            chunks += [sample.data[at : at + step] for at in range(0, len(sample.data), step)]
        sampled = sum(map(len, chunks))
        gzip, zstd = [
            await asyncio.to_thread(compressed_size, self._compression.open(coding), chunks) * size / sampled
            for coding in ("gzip", "zstd")
        ]
        return ExportEstimate(
            count=count,
            estimated_size_mb=_mb(size),
            estimated_size_mb_gzip=_mb(gzip),
            estimated_size_mb_zstd=_mb(zstd),
        )


def _mb(size: float) -> float:
    return round(size / 1_000_000, 3)
