"""Fixtures of the integration tests that talk to Redis: a client, and a key prefix of their own."""

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from tests.services import REDIS_URL, fresh_redis_prefix


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix no other test run uses, its keys deleted afterwards."""
    with fresh_redis_prefix(request.module.__name__.rsplit(".", 1)[-1]) as prefix:
        yield prefix


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    """A client of the test Redis."""
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()
