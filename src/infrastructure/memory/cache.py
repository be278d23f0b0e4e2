"""The in-process cache: TTL, tags, LRU bound, single-flight loads fenced against stale write-back."""

import asyncio
import heapq
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from domain.caching import ABSENT, Absence, Absent, CacheStats
from domain.ports import CachePort, Clock
from infrastructure.cache_mechanics import PLAIN_TYPES, Flight, Flights, Meter, ValueCodec
from infrastructure.clock import REAL_CLOCK

T = TypeVar("T")

_EXPIRY_BUCKET_SECONDS = 1.0
_SWEEP_BATCH = 64


class _Group:
    """The keys that carry exactly one combination of tags; tag indexes point at groups, not keys."""

    __slots__ = ("dead", "keys", "tags")

    def __init__(self, tags: tuple[str, ...]) -> None:
        self.tags = tags
        self.keys: set[str] = set()
        self.dead = False


class _Entry:
    __slots__ = ("expires", "group", "value")

    def __init__(self, value: Any, expires: float, group: _Group | None) -> None:
        self.value = value
        self.expires = expires
        self.group = group


class CacheManager(CachePort):
    """In-process CachePort: keeps the objects themselves and shares them with readers, one process only."""

    def __init__(
        self,
        default_ttl: float = 300,
        max_entries: int = 100_000,
        clock: Clock = REAL_CLOCK,
        cleanup_slice: int = 2_000,
    ) -> None:
        self._default_ttl = default_ttl
        self._max_entries = max_entries
        self._clock = clock.__call__  # the bound call itself: for the real clock, the C function
        self._slice = cleanup_slice
        # An OrderedDict keeps LRU order in C: move_to_end on a hit, popitem(last=False) to evict.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # Keys sharing a tag combination share one group, so a key costs one set slot however many tags it has.
        self._groups: dict[tuple[str, ...], _Group] = {}
        self._groups_by_tag: dict[str, set[_Group]] = {}
        # Expiry is reclaimed bucket by bucket (one per second of expiry time), never by scanning every key.
        self._expiry_buckets: dict[int, list[str]] = {}
        self._expiry_heap: list[int] = []
        self._dead_groups: list[_Group] = []
        self._reclaimer: asyncio.Task[None] | None = None
        self._stats = Meter(clock)
        self._flights = Flights(self._stats, self._store_loaded)
        self._convert = ValueCodec().convert

    async def get(self, key: str, as_type: type[T] | None = None) -> T | None:
        """The fresh value under `key` as the port's value contract says, or None."""
        started = self._clock()
        entry = self._live(key, started)
        if entry is None:
            self._stats.miss(started)
            return None
        return self._read(entry, as_type, started)  # type: ignore[no-any-return]

    async def peek(self, key: str, as_type: type[T]) -> T | Absent | None:
        """The fresh value under `key`, or ABSENT, counted as a hit; None, counted as nothing, on a miss."""
        started = self._clock()
        entry = self._live(key, started)
        if entry is None:
            return None
        value = self._read(entry, as_type, started)
        return ABSENT if entry.value is ABSENT else value  # type: ignore[no-any-return]

    async def set(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store `value` for `ttl` seconds (default_ttl when None), keeping the key's tags."""
        self._flights.fence_key(key)  # a direct write is newer than whatever the running load read
        self._store(key, value, ttl, self._clock())

    async def tag(self, key: str, *tags: str) -> None:
        """Attach tags to a stored key; a missing or expired key is left alone."""
        entry = self._live(key, self._clock())
        if entry is not None:
            self._add_tags(key, entry, tags)

    async def invalidate(self, key: str) -> bool:
        """Remove one key; True when it was cached. A load of it in flight will not store its result."""
        self._stats.invalidations += 1
        self._flights.fence_key(key)
        entry = self._live(key, self._clock())
        if entry is None:
            return False
        self._drop(key, entry)
        self._stats.invalidated_keys += 1
        return True

    async def invalidate_by_tag(self, tag: str) -> int:
        """Remove every key carrying `tag` at once; a large tag's memory is reclaimed in slices afterwards."""
        self._stats.invalidations += 1
        self._flights.fence_tag(tag)
        groups = self._groups_by_tag.pop(tag, ())
        removed = 0
        for group in groups:
            self._forget_group(group, except_tag=tag)
            group.dead = True
            removed += len(group.keys)
        self._stats.invalidated_keys += removed
        if removed <= self._slice:
            for group in groups:
                self._drop_group_keys(group, len(group.keys))
        else:
            self._dead_groups.extend(groups)
            if self._reclaimer is None or self._reclaimer.done():
                self._reclaimer = asyncio.get_running_loop().create_task(self._reclaim())
        return removed

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        ttl: float | None = None,
        tags: Sequence[str] = (),
        as_type: type[T] | None = None,
        absence: Absence | None = None,
    ) -> tuple[T, bool]:
        """(value, True) from the cache, or (loaded value, False); concurrent misses share one load."""
        started = self._clock()
        entry = self._live(key, started)
        if entry is not None:
            return self._read(entry, as_type, started), True
        return await self._flights.load(key, loader, ttl, tags, started, absence=absence), False

    def get_stats(self) -> CacheStats:
        """Counters since start, with the live key count and keys still being reclaimed."""
        reclaiming = sum(len(group.keys) for group in self._dead_groups)
        return self._stats.snapshot(
            keys=len(self._entries) - reclaiming, tags=len(self._groups_by_tag), reclaiming=reclaiming
        )

    async def cluster_stats(self) -> CacheStats:
        """The same as get_stats(): an in-process cache is its own whole cluster."""
        return self.get_stats()

    def _read(self, entry: _Entry, as_type: Any, started: float) -> Any:
        """A live entry's value as the reader asked for it (None for an absence), counted as a hit."""
        value = entry.value
        if value is ABSENT:
            self._stats.negative_hit(started)
            return None
        self._stats.hit(started)
        kind = type(value)
        if kind is as_type or (as_type is None and kind in PLAIN_TYPES):
            return value  # shared: immutable, and already what the reader asked for
        return self._convert(value, as_type)

    def _live(self, key: str, now: float) -> _Entry | None:
        """The entry under `key` if fresh and not invalidated, marked as recently used; reclaims it otherwise."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= now:
            self._drop(key, entry)
            self._stats.expirations += 1
            return None
        group = entry.group
        if group is not None and group.dead:
            self._drop(key, entry)
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, value: object, ttl: float | None, now: float) -> None:
        self._sweep_expired(now)  # before evicting: expired keys go first
        expires = now + (self._default_ttl if ttl is None else ttl)
        entries = self._entries
        old = entries.get(key)
        group = None
        if old is not None:
            group = old.group
            if group is not None and (group.dead or old.expires <= now):  # an expired key's tags go with it
                self._unlink(key, old)
                group = None
            entries.move_to_end(key)
        elif len(entries) >= self._max_entries:
            evicted, victim = entries.popitem(last=False)
            self._unlink(evicted, victim)
            self._stats.evictions += 1
        entries[key] = _Entry(value, expires, group)
        bucket = int(expires // _EXPIRY_BUCKET_SECONDS)
        keys = self._expiry_buckets.get(bucket)
        if keys is None:
            keys = self._expiry_buckets[bucket] = []
            heapq.heappush(self._expiry_heap, bucket)
        keys.append(key)

    def _sweep_expired(self, now: float) -> None:
        """Reclaim up to a batch of keys from buckets whose whole second has passed."""
        heap, buckets, budget = self._expiry_heap, self._expiry_buckets, _SWEEP_BATCH
        while heap and (heap[0] + 1) * _EXPIRY_BUCKET_SECONDS <= now and budget > 0:
            keys = buckets[heap[0]]
            while keys and budget > 0:
                key = keys.pop()
                budget -= 1
                entry = self._entries.get(key)
                if entry is not None and entry.expires <= now:
                    self._drop(key, entry)
                    self._stats.expirations += 1
            if not keys:
                del buckets[heapq.heappop(heap)]

    def _drop(self, key: str, entry: _Entry) -> None:
        del self._entries[key]
        self._unlink(key, entry)

    def _unlink(self, key: str, entry: _Entry) -> None:
        group = entry.group
        if group is None:
            return
        group.keys.discard(key)
        if not group.keys and not group.dead:
            self._forget_group(group)

    def _add_tags(self, key: str, entry: _Entry, tags: Sequence[str]) -> None:
        current = entry.group.tags if entry.group is not None else ()
        combined = tuple(sorted({*current, *tags}))
        if combined != current:
            self._regroup(key, entry, combined)

    def _regroup(self, key: str, entry: _Entry, tags: tuple[str, ...]) -> None:
        self._unlink(key, entry)
        group = self._groups.get(tags)
        if group is None:
            group = self._groups[tags] = _Group(tags)
            for tag in tags:
                self._groups_by_tag.setdefault(tag, set()).add(group)
        group.keys.add(key)
        entry.group = group

    def _forget_group(self, group: _Group, except_tag: str | None = None) -> None:
        del self._groups[group.tags]
        for tag in group.tags:
            if tag == except_tag:
                continue
            siblings = self._groups_by_tag[tag]
            siblings.discard(group)
            if not siblings:
                del self._groups_by_tag[tag]

    def _drop_group_keys(self, group: _Group, count: int) -> None:
        keys, entries = group.keys, self._entries
        for _ in range(min(count, len(keys))):
            key = keys.pop()
            entry = entries.get(key)
            if entry is not None and entry.group is group:
                del entries[key]

    async def _reclaim(self) -> None:
        """Drop invalidated keys a slice at a time, yielding to the event loop between slices."""
        while self._dead_groups:
            group = self._dead_groups[-1]
            self._drop_group_keys(group, self._slice)
            if not group.keys:
                self._dead_groups.pop()
            await asyncio.sleep(0)

    async def _store_loaded(self, flight: Flight, value: Any) -> bool:
        """Store a loaded value with the tags it was loaded for; a None under an absence as a negative entry."""
        ttl, tags, absence = flight.ttl, flight.tags, flight.absence
        if value is None and absence is not None:
            value, ttl, tags = ABSENT, absence.ttl, (*tags, *absence.tags)
        self._store(flight.key, value, ttl, self._clock())
        self._add_tags(flight.key, self._entries[flight.key], tags)
        return True
