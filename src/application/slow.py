"""Deliberately slow use cases, so that profiling has something to find: a heavy query, a large
serialization and a slow upstream call."""

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from msgspec import Struct

from domain.order_stats import StatusTotal
from domain.orders import OrderRow
from domain.ports import Clock, OrderStatsPort, UpstreamPort

T = TypeVar("T")

_CHUNK = 2_000  # rows per encode call: each call holds the GIL for about a millisecond, never the whole payload


class QueryReport(Struct, frozen=True):
    """Orders per status and the time the query itself took."""

    totals: list[StatusTotal]
    query_ms: float


class SerializationReport(Struct, frozen=True):
    """How many rows were serialized, into how many bytes, in how long."""

    rows: int
    bytes: int
    serialize_ms: float


class UpstreamReport(Struct, frozen=True):
    """What the upstream answered."""

    upstream: str


async def _at_least(clock: Clock, target_s: float, work: Awaitable[T]) -> tuple[T, float]:
    """The result of `work` and the milliseconds it took, returned no sooner than `target_s` (a non-blocking wait)."""
    started = clock()
    result = await work
    took = clock() - started
    await clock.sleep(max(0.0, target_s - took))
    return result, round(took * 1000, 3)


class RunSlowQuery:
    """A real aggregate over every order, topped up with a non-blocking wait to at least `target_s`."""

    def __init__(self, stats: OrderStatsPort, clock: Clock, target_s: float = 0.2) -> None:
        self._stats = stats
        self._clock = clock
        self._target_s = target_s

    async def __call__(self) -> QueryReport:
        totals, took_ms = await _at_least(self._clock, self._target_s, self._stats.totals_by_status())
        return QueryReport(totals=totals, query_ms=took_ms)


class SerializeLargePayload:
    """JSON-encode `rows` generated rows in a worker thread, topped up to at least `target_s`."""

    def __init__(self, clock: Clock, rows: int, target_s: float = 0.1) -> None:
        self._clock = clock
        self._rows = rows
        self._target_s = target_s

    async def __call__(self) -> SerializationReport:
        work = asyncio.to_thread(serialized_size, self._rows)
        size, took_ms = await _at_least(self._clock, self._target_s, work)
        return SerializationReport(rows=self._rows, bytes=size, serialize_ms=took_ms)


def serialized_size(rows: int) -> int:
    """Bytes of the JSON array of `rows` generated rows, encoded in chunks."""
    encoder = msgspec.json.Encoder()
    created = datetime(2025, 1, 1, tzinfo=UTC)
    size = 2 + max(rows - 1, 0)  # the brackets and the commas between rows
    for first in range(0, rows, _CHUNK):
        chunk = [
            OrderRow(i, "김민준 Smith", "Keyboard, mechanical", i % 10 + 1, 89.5, "paid", created)
            for i in range(first, min(first + _CHUNK, rows))
        ]
        size += len(encoder.encode(chunk)) - 2 - (len(chunk) - 1)
    return size


class CallSlowUpstream:
    """Await one call to the upstream service."""

    def __init__(self, upstream: UpstreamPort) -> None:
        self._upstream = upstream

    async def __call__(self) -> UpstreamReport:
        return UpstreamReport(upstream=await self._upstream.call())
