"""Cache naming, the change -> invalidation policy, encoded representations and the statistics counters, for
every cache adapter."""

import base64
import hashlib
from typing import Any, Literal, TypedDict

import msgspec
from msgspec import Struct

Action = Literal["create", "update", "delete"]
StatsScope = Literal["local", "cluster"]


def detail_key(resource: str, resource_id: int | str) -> str:
    """Key of one resource's cached detail, e.g. `items:42`."""
    return f"{resource}:{resource_id}"


def list_key(resource: str, page: int, size: int) -> str:
    """Key of one cached page of a resource's list, e.g. `items:list:1:20`."""
    return f"{resource}:list:{page}:{size}"


def detail_tags(resource: str) -> tuple[str, str]:
    """Tags of a detail entry: the resource, and its details."""
    return (resource, f"{resource}:detail")


def list_tags(resource: str) -> tuple[str, str]:
    """Tags of a list entry: the resource, and its lists."""
    return (resource, f"{resource}:list")


def missing_tag(resource: str) -> str:
    """Tag of the remembered absences of a resource's ids, which a create makes stale, e.g. `items:missing`."""
    return f"{resource}:missing"


class Absent:
    """A remembered absence, as a cache read reports it: the load under an `Absence` found nothing."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


class Absence(Struct, frozen=True):
    """How a load that found nothing is remembered: for `ttl` seconds, under `tags` besides the entry's own."""

    ttl: float
    tags: tuple[str, ...]


class Representation(Struct, frozen=True):
    """A value's JSON body, encoded once, with its strong entity tag: what a cached GET answers with."""

    body: bytes
    etag: str


_encode_json = msgspec.json.Encoder().encode


def represent(value: Any) -> Representation:
    """`value` as JSON with a strong entity tag: the same bytes always give the same tag, other bytes another."""
    body = _encode_json(value)
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return Representation(body, '"' + base64.urlsafe_b64encode(digest).rstrip(b"=").decode() + '"')


class ResourceChange(Struct, frozen=True):
    """A committed change of one resource, as cache subscribers hear of it."""

    action: Action
    resource: str
    resource_id: int | str | None = None

    def stale_keys(self) -> tuple[str, ...]:
        """Entries this change makes stale: the detail of an updated or deleted resource."""
        return () if self.resource_id is None else (detail_key(self.resource, self.resource_id),)

    def stale_tags(self) -> tuple[str, ...]:
        """Tags this change makes stale: every list of the resource, whatever the action, and after a create the
        remembered absences of its ids (the new id among them)."""
        lists = list_tags(self.resource)[1]
        return (lists, missing_tag(self.resource)) if self.action == "create" else (lists,)


class CacheTtls(Struct, frozen=True):
    """Seconds a detail entry and a list page stay fresh, and an id found missing is remembered (0: never)."""

    detail: float
    list: float
    not_found: float = 0


class CacheStats(TypedDict):
    """What `get_stats()` returns; times in milliseconds, `hit_rate` in percent."""

    hits: int
    negative_hits: int
    misses: int
    hit_rate: float
    invalidations: int
    invalidated_keys: int
    avg_hit_ms: float
    avg_miss_ms: float
    keys: int
    tags: int
    reclaiming: int
    evictions: int
    expirations: int
    loads: int
    load_errors: int
    coalesced: int
    stale_writes_rejected: int
    backend_errors: int


class CacheCounters:
    """Running totals an adapter bumps in place; `snapshot()` turns them into CacheStats."""

    __slots__ = (
        "backend_errors",
        "coalesced",
        "evictions",
        "expirations",
        "hit_seconds",
        "hits",
        "invalidated_keys",
        "invalidations",
        "load_errors",
        "loads",
        "miss_seconds",
        "misses",
        "negative_hits",
        "stale_writes_rejected",
    )

    def __init__(self) -> None:
        self.hits = self.negative_hits = self.misses = self.invalidations = self.invalidated_keys = 0
        self.evictions = self.expirations = self.loads = self.load_errors = 0
        self.coalesced = self.stale_writes_rejected = self.backend_errors = 0
        self.hit_seconds = self.miss_seconds = 0.0

    def snapshot(self, *, keys: int, tags: int, reclaiming: int) -> CacheStats:
        """The statistics now, with the adapter's live keys, indexed tags and keys still being reclaimed."""
        lookups = self.hits + self.misses
        return CacheStats(
            hits=self.hits,
            negative_hits=self.negative_hits,
            misses=self.misses,
            hit_rate=round(100 * self.hits / lookups, 1) if lookups else 0.0,
            invalidations=self.invalidations,
            invalidated_keys=self.invalidated_keys,
            avg_hit_ms=_average_ms(self.hit_seconds, self.hits),
            avg_miss_ms=_average_ms(self.miss_seconds, self.misses),
            keys=keys,
            tags=tags,
            reclaiming=reclaiming,
            evictions=self.evictions,
            expirations=self.expirations,
            loads=self.loads,
            load_errors=self.load_errors,
            coalesced=self.coalesced,
            stale_writes_rejected=self.stale_writes_rejected,
            backend_errors=self.backend_errors,
        )


def _average_ms(seconds: float, count: int) -> float:
    return round(1000 * seconds / count, 4) if count else 0.0
