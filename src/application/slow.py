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

# A slice of the serialization: building and encoding 1,000 rows takes about 0.3 ms on a quiet core, the longest the
# loop's other tasks wait. A rest follows each slice so that the loop goes idle: a thread waiting for the GIL (the
# database driver's) then gets it at once, where a loop that only yields keeps the GIL until the interpreter's 5 ms
# switch interval forces it out. With a 1 ms rest the call encodes about a quarter of the time.
_SLICE_ROWS = 1_000
_REST_S = 0.001
_CREATED = datetime(2025, 1, 1, tzinfo=UTC)


class QueryReport(Struct, frozen=True):
    """Orders per status and the time the query itself took."""

    totals: list[StatusTotal]
    query_ms: float


class SerializationReport(Struct, frozen=True):
    """How many rows were serialized within the budget, into how many bytes, and the milliseconds spent encoding."""

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
    """JSON-encode generated rows until `budget_s` ends, in slices of `slice_rows` on the event loop with a rest of
    `rest_s` after each; concurrent calls take turns, so the loop sees one slice and rest at a time however many run."""

    def __init__(
        self, clock: Clock, budget_s: float = 0.1, slice_rows: int = _SLICE_ROWS, rest_s: float = _REST_S
    ) -> None:
        self._clock = clock
        self._budget_s = budget_s
        self._slice_rows = slice_rows
        self._rest_s = rest_s
        self._encoder = msgspec.json.Encoder()
        self._turn = asyncio.Lock()

    async def __call__(self) -> SerializationReport:
        started = self._clock()
        rows, size, encoding_s = 0, 2, 0.0  # size starts with the array's brackets
        while True:
            async with self._turn:
                sliced = self._clock()
                if sliced - started >= self._budget_s:
                    break
                encoded = self._encoder.encode([payload_row(i) for i in range(rows, rows + self._slice_rows)])
                size += len(encoded) - 2 + (1 if rows else 0)  # the slice's rows, after a comma unless they are first
                rows += self._slice_rows
                encoding_s += self._clock() - sliced
                # The turn is held through the rest, so concurrent calls never add up their slices.
                await self._clock.sleep(self._rest_s)
        return SerializationReport(rows=rows, bytes=size, serialize_ms=round(encoding_s * 1000, 3))


def payload_row(i: int) -> OrderRow:
    """The `i`-th generated row of the serialization payload."""
    return OrderRow(i, "김민준 Smith", "Keyboard, mechanical", i % 10 + 1, 89.5, "paid", _CREATED)


class CallSlowUpstream:
    """Await one call to the upstream service."""

    def __init__(self, upstream: UpstreamPort) -> None:
        self._upstream = upstream

    async def __call__(self) -> UpstreamReport:
        return UpstreamReport(upstream=await self._upstream.call())
