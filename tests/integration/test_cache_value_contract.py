"""The port's value contract: every adapter returns equal values of the same type for the same `as_type`."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from domain.items import Item, ItemPage
from domain.ports import CachePort
from infrastructure.memory.cache import CacheManager
from infrastructure.redis.cache import RedisCache
from infrastructure.redis.client import make_redis_client
from tests.services import REDIS_URL, fresh_redis_prefix

pytestmark = pytest.mark.redis

ITEM = Item(42, "lamp", "", 19.99, 3, datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))
PAGE = ItemPage(items=(ITEM, ITEM), page=1, size=2, total=7)

# (stored value, the types it is read as); None reads the plain msgpack form.
CASES = [
    pytest.param(ITEM, (Item, None, dict), id="struct"),
    pytest.param(PAGE, (ItemPage, None), id="struct-of-tuple"),
    pytest.param(msgspec.structs.asdict(ITEM), (Item, None, dict), id="dict-read-as-struct"),
    pytest.param((1, 2.5, "three"), (tuple, None, list), id="tuple"),
    pytest.param({"id": 1, "tags": ["a", "b"], "nested": {"ok": True}}, (None, dict), id="plain-dict"),
    pytest.param([{"id": 1}], (None, list), id="plain-list"),
    pytest.param("text", (None, str), id="str"),
    pytest.param(b"raw", (None, bytes), id="bytes"),
    pytest.param(7, (None, int, float), id="int"),
]


@pytest.fixture
async def caches() -> AsyncIterator[dict[str, CachePort]]:
    with fresh_redis_prefix("contract") as prefix:
        plain = RedisCache(make_redis_client(REDIS_URL, 2.0), prefix=f"{prefix}:plain", timeout=2.0)
        layered = RedisCache(
            make_redis_client(REDIS_URL, 2.0), prefix=f"{prefix}:l1", timeout=2.0, l1=CacheManager, l1_ttl=60
        )
        await plain.start()
        await layered.start()
        try:
            await layered.set("probe", 1)
            while await layered.get("probe") is None or layered.get_stats()["keys"] == 0:  # L1 subscribes first
                await layered.invalidate("probe")
                await layered.set("probe", 1)
            yield {"memory": CacheManager(), "redis": plain, "redis + L1": layered}
        finally:
            await plain.close()
            await layered.close()


@pytest.mark.parametrize(("value", "types"), CASES)
async def test_every_adapter_reads_a_value_as_msgpack_would_decode_it(
    caches: dict[str, CachePort], value: Any, types: tuple[Any, ...]
) -> None:
    for cache in caches.values():
        await cache.set("k", value)
    for as_type in types:
        expected = msgspec.msgpack.decode(msgspec.msgpack.encode(value), type=as_type or Any)
        for name, cache in caches.items():
            for read in ("get", "get again"):  # the second read comes from the L1 where there is one
                got = await cache.get("k", as_type=as_type)
                assert (type(got), got) == (type(expected), expected), (name, read, as_type)
        for name, cache in caches.items():
            got, hit = await cache.get_or_load("k", _never, as_type=as_type)
            assert (type(got), got, hit) == (type(expected), expected, True), (name, "get_or_load", as_type)


async def test_the_memory_adapter_shares_an_immutable_value_read_as_its_own_type() -> None:
    cache = CacheManager()
    await cache.set("items:42", ITEM)
    assert await cache.get("items:42", as_type=Item) is ITEM
    assert (await cache.get_or_load("items:42", _never, as_type=Item))[0] is ITEM
    plain = await cache.get("items:42")
    assert plain == msgspec.structs.asdict(ITEM)
    assert plain is not await cache.get("items:42")  # the plain form of a Struct is made anew: no shared dict


async def _never() -> Any:
    raise AssertionError("a hit must not load")
