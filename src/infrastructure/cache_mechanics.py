"""What every cache adapter does alike: hits and misses metered, loads run once per key and fenced against the
invalidations that overtake them, and values converted as the port's value contract says."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from domain.caching import Absence, CacheCounters
from domain.ports import Clock

# The types whose plain msgpack form is the object itself: the port lets dicts and lists hold plain data only.
PLAIN_TYPES = frozenset({str, bytes, int, float, bool, type(None), dict, list})


class Meter(CacheCounters):
    """An adapter's counters, with its hits and misses timed on its clock."""

    __slots__ = ("_clock",)

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock.__call__  # the bound call itself: for the real clock, the C function

    def hit(self, started: float) -> None:
        """Count a hit whose lookup began at `started`."""
        self.hits += 1
        self.hit_seconds += self._clock() - started

    def negative_hit(self, started: float) -> None:
        """Count a hit on a remembered absence whose lookup began at `started`."""
        self.negative_hits += 1
        self.hit(started)

    def miss(self, started: float) -> None:
        """Count a miss whose lookup began at `started`, and which ended now."""
        self.misses += 1
        self.miss_seconds += self._clock() - started


class ValueCodec:
    """Values as msgpack bytes, and as a reader asking for a type gets them: the port's value contract."""

    def __init__(self) -> None:
        self.encode = msgspec.msgpack.Encoder().encode
        self._decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {None: msgspec.msgpack.Decoder()}

    def decode(self, data: bytes, as_type: Any) -> Any:
        """`data` decoded as `as_type`, or into plain msgpack data when it is None."""
        decoder = self._decoders.get(as_type)
        if decoder is None:
            decoder = self._decoders[as_type] = msgspec.msgpack.Decoder(as_type)
        return decoder.decode(data)

    def convert(self, value: Any, as_type: Any) -> Any:
        """`value` as decoding its msgpack form as `as_type` gives it: for a value that is not already that."""
        return self.decode(self.encode(value), as_type)


def _new_future() -> "asyncio.Future[Any]":
    return asyncio.get_running_loop().create_future()


@dataclass(slots=True, eq=False)
class Flight:
    """One load of one key that every caller missing the key meanwhile waits on.

    `stale` once the key or one of `tags` is invalidated in this process, `absence_stale` once one of the
    absence's tags is (which only a None result cares about); `epoch` is the shared cache's count of invalidations
    when the miss was seen (None for an in-process cache, or when it could not be read).
    """

    key: str
    ttl: float | None
    tags: tuple[str, ...]
    epoch: int | None
    started: float
    absence: Absence | None = None
    stale: bool = False
    absence_stale: bool = False
    future: "asyncio.Future[Any]" = field(default_factory=_new_future)
    task: "asyncio.Task[None] | None" = None


# Stores a flight's loaded value as the adapter does; False when it refused the value as stale.
Store = Callable[[Flight, Any], Awaitable[bool]]


class Flights:
    """The loads running in this process: one per key, whatever the number of callers, and none stores a value
    read before an invalidation of its key or tags."""

    def __init__(self, meter: Meter, store: Store) -> None:
        self._meter = meter
        self._store = store
        self._running: dict[str, Flight] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._running

    async def load(
        self,
        key: str,
        loader: Callable[[], Awaitable[Any]],
        ttl: float | None,
        tags: Sequence[str],
        started: float,
        epoch: int | None = None,
        absence: Absence | None = None,
    ) -> Any:
        """The loaded value of `key`, from a load started now unless one is running; a miss timed from `started`."""
        flight = self._running.get(key)
        if flight is None:
            flight = self._running[key] = Flight(key, ttl, tuple(tags), epoch, started, absence)
            self._meter.loads += 1
            flight.task = asyncio.get_running_loop().create_task(self._run(flight, loader))
        else:
            self._meter.coalesced += 1
        try:
            # shield: a cancelled caller stops waiting, the load goes on for the others.
            return await asyncio.shield(flight.future)
        finally:
            self._meter.miss(started)

    def fence_key(self, key: str) -> None:
        """A change of `key` overtakes its load in flight, if any: the value is handed out but not stored."""
        flight = self._running.get(key)
        if flight is not None:
            flight.stale = True

    def fence_tag(self, tag: str) -> None:
        """An invalidation of `tag` overtakes every load in flight that would store under it."""
        for flight in self._running.values():
            if tag in flight.tags:
                flight.stale = True
            elif flight.absence is not None and tag in flight.absence.tags:
                flight.absence_stale = True

    async def _run(self, flight: Flight, loader: Callable[[], Awaitable[Any]]) -> None:
        """Run `loader` once for every waiter: its value is stored unless stale, then handed to them; its error
        reaches them all and nothing is stored."""
        try:
            value = await loader()
        except asyncio.CancelledError:
            self._land(flight)
            flight.future.cancel()
            raise
        except Exception as error:  # noqa: BLE001 - every waiter gets the loader's error, nothing is cached
            self._meter.load_errors += 1
            self._land(flight)
            flight.future.set_exception(error)
            flight.future.exception()  # retrieved here: no "never retrieved" warning when nobody waits
            return
        try:
            stale = flight.stale or (value is None and flight.absence_stale)
            if stale or not await self._store(flight, value):
                self._meter.stale_writes_rejected += 1
        finally:
            self._land(flight)
            flight.future.set_result(value)

    def _land(self, flight: Flight) -> None:
        """Forget the flight before its waiters are told: a caller after them starts a load of its own."""
        del self._running[flight.key]
