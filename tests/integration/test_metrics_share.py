"""RedisMetricsShare against the real Redis: states round-trip exactly, expire after their interval, faults map."""

import time

import pytest
from redis.asyncio import Redis

from domain.errors import Unavailable
from domain.metrics import ProcessMetrics, RequestSample
from infrastructure.memory.metrics import InMemoryMetrics
from infrastructure.redis.metrics import RedisMetricsShare
from tests.fakes import FakeClock
from tests.servers import free_port
from tests.services import eventually


def state_of(process: str, requests: int) -> ProcessMetrics:
    clock = FakeClock()
    metrics = InMemoryMetrics(clock, process=process)
    for i in range(requests):
        metrics.record(RequestSample(endpoint=f"GET /e{i % 3}", status=200 + i % 4 * 100, seconds=i / 1000, ttfb=0.001))
    clock.advance(5)
    return metrics.state()


@pytest.mark.redis
async def test_published_states_come_back_exactly(redis_client: Redis, redis_prefix: str) -> None:
    share = RedisMetricsShare(redis_client, redis_prefix, expiry_s=30)
    states = [state_of("a", 50), state_of("b", 70)]
    for state in states:
        await share.publish(state)

    assert sorted(await share.live(), key=lambda state: state.process) == states


@pytest.mark.redis
async def test_a_process_that_stops_publishing_drops_out_after_its_expiry(
    redis_client: Redis, redis_prefix: str
) -> None:
    # Far longer than a publication and a read take, so that only a process that stops publishing expires.
    expiry_s = 2.0
    share = RedisMetricsShare(redis_client, redis_prefix, expiry_s=expiry_s)
    started = time.monotonic()
    await share.publish(state_of("stopped", 1))
    seen_with = {state.process for state in await share.live()}

    async def live_while_another_publishes() -> set[str]:
        await share.publish(state_of("running", 1))  # the other process keeps publishing
        return {state.process for state in await share.live()}

    live = await eventually(live_while_another_publishes, lambda live: "stopped" not in live)

    assert seen_with == {"stopped"}
    assert live == {"running"}
    assert time.monotonic() - started >= expiry_s
    assert await redis_client.smembers(f"{redis_prefix}:metrics:processes") == {b"running"}  # the index forgot it too


async def test_an_unreachable_redis_is_unavailable() -> None:
    redis_client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    share = RedisMetricsShare(redis_client, "nowhere", expiry_s=3)
    try:
        with pytest.raises(Unavailable):
            await share.publish(state_of("a", 1))
        with pytest.raises(Unavailable):
            await share.live()
    finally:
        await redis_client.aclose()


@pytest.mark.redis
async def test_a_state_is_decoded_once_per_publication(redis_client: Redis, redis_prefix: str) -> None:
    share = RedisMetricsShare(redis_client, redis_prefix, expiry_s=30)
    reader = RedisMetricsShare(redis_client, redis_prefix, expiry_s=30)
    await share.publish(state_of("a", 50))
    await share.publish(state_of("b", 70))

    first, again = await reader.live(), await reader.live()
    await share.publish(state_of("b", 90))
    after = await reader.live()

    assert all(one is other for one, other in zip(first, again, strict=True))  # unchanged: not decoded again
    assert after[0] is first[0]
    assert after[1] is not first[1]
    assert after[1] == state_of("b", 90)
