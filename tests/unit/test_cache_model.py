"""The cache behaves like a plain dictionary model under any sequence of operations."""

import asyncio
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from infrastructure.memory.cache import CacheManager
from tests.fakes import FakeClock

KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
TAGS = st.sampled_from(["x", "y", "z"])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, st.integers(0, 9), st.sampled_from([None, 1.0, 5.0])),
        st.tuples(st.just("tag"), KEYS, st.lists(TAGS, min_size=1, max_size=2)),
        st.tuples(st.just("get"), KEYS),
        st.tuples(st.just("invalidate"), KEYS),
        st.tuples(st.just("invalidate_by_tag"), TAGS),
        st.tuples(st.just("advance"), st.sampled_from([0.5, 1.0, 3.0])),
    ),
    max_size=60,
)


@dataclass
class Stored:
    value: int
    expires: float
    tags: set[str] = field(default_factory=set)


@settings(max_examples=300, deadline=None)
@given(OPERATIONS, st.sampled_from([1, 1000]))
def test_the_cache_matches_a_dictionary_model(operations: list[tuple], cleanup_slice: int) -> None:  # type: ignore[type-arg]
    asyncio.run(_check(operations, cleanup_slice))


async def _check(operations: list[tuple], cleanup_slice: int) -> None:  # type: ignore[type-arg]
    clock = FakeClock()
    cache = CacheManager(default_ttl=2.0, clock=clock, cleanup_slice=cleanup_slice)
    model: dict[str, Stored] = {}

    def live(key: str) -> Stored | None:
        stored = model.get(key)
        return stored if stored is not None and stored.expires > clock() else None

    for operation in operations:
        match operation:
            case ("set", key, value, ttl):
                tags = stored.tags if (stored := live(key)) else set()
                model[key] = Stored(value, clock() + (2.0 if ttl is None else ttl), tags)
                await cache.set(key, value, ttl=ttl)
            case ("tag", key, tags):
                if stored := live(key):
                    stored.tags.update(tags)
                await cache.tag(key, *tags)
            case ("get", key):
                expected = stored.value if (stored := live(key)) else None
                assert await cache.get(key) == expected
            case ("invalidate", key):
                assert await cache.invalidate(key) == (live(key) is not None)
                model.pop(key, None)
            case ("invalidate_by_tag", tag):
                tagged = [key for key, stored in model.items() if tag in stored.tags]
                removed = await cache.invalidate_by_tag(tag)
                # Expired keys not yet reclaimed may be counted too.
                assert len([key for key in tagged if live(key)]) <= removed <= len(tagged)
                for key in tagged:
                    del model[key]
            case ("advance", seconds):
                clock.advance(seconds)
        await asyncio.sleep(0)
    for key in "abcde":
        expected = stored.value if (stored := live(key)) else None
        assert await cache.get(key) == expected
    assert cache.get_stats()["keys"] == sum(1 for key in model if live(key))
