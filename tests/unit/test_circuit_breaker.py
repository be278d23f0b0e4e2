"""The Redis circuit breaker on a fake clock: closed, open after a failure, one probe after the cooldown."""

import asyncio
import logging
from typing import Any

import pytest
import redis.exceptions

from infrastructure.redis.client import CircuitBreaker, RedisUnavailable
from tests.fakes import FakeClock

COOLDOWN = 2.0
# Only bounds a wait that a test ends itself: high enough never to fire on a loaded machine.
GENEROUS_TIMEOUT = 60.0


class Command:
    """A fake async Redis command: counts its calls, then answers, raises `error`, or waits for `gate` first."""

    def __init__(self, error: BaseException | None = None, gate: asyncio.Event | None = None) -> None:
        self.error = error
        self.gate = gate
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.started = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append((args, kwargs))
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return "answer"


class Hooks:
    """Counts the breaker's calls of `on_failure` and `on_recovery`."""

    def __init__(self) -> None:
        self.failures = 0
        self.recoveries = 0

    def failed(self) -> None:
        self.failures += 1

    def recovered(self) -> None:
        self.recoveries += 1


def make_breaker(clock: FakeClock, hooks: Hooks, timeout: float = GENEROUS_TIMEOUT) -> CircuitBreaker:
    return CircuitBreaker(
        timeout=timeout,
        cooldown=COOLDOWN,
        calls=4,
        clock=clock,
        on_failure=hooks.failed,
        on_recovery=hooks.recovered,
    )


async def open_breaker(breaker: CircuitBreaker) -> None:
    """Make one call fail, which opens the breaker."""
    with pytest.raises(RedisUnavailable):
        await breaker.call(Command(error=redis.exceptions.ConnectionError("refused")))


async def test_a_closed_breaker_runs_the_command_with_its_arguments_and_returns_the_result() -> None:
    hooks = Hooks()
    breaker = make_breaker(FakeClock(), hooks)
    command = Command()

    assert await breaker.call(command, "key", ex=5) == "answer"
    assert await breaker.call(command, "other") == "answer"

    assert command.calls == [(("key",), {"ex": 5}), (("other",), {})]
    assert (hooks.failures, hooks.recoveries) == (0, 0)


@pytest.mark.parametrize(
    "error",
    [redis.exceptions.ConnectionError("refused"), OSError("network is unreachable"), TimeoutError()],
    ids=["redis-connection-error", "os-error", "timeout-error"],
)
async def test_a_failing_call_raises_redis_unavailable_calls_on_failure_and_opens(error: BaseException) -> None:
    hooks = Hooks()
    breaker = make_breaker(FakeClock(), hooks)
    after = Command()

    with pytest.raises(RedisUnavailable) as raised:
        await breaker.call(Command(error=error))
    with pytest.raises(RedisUnavailable):
        await breaker.call(after)

    assert raised.value.__cause__ is error
    assert hooks.failures == 1
    assert after.calls == []


async def test_an_open_breaker_refuses_every_call_without_running_it_until_the_cooldown_has_passed() -> None:
    clock = FakeClock()
    hooks = Hooks()
    breaker = make_breaker(clock, hooks)
    await open_breaker(breaker)
    command = Command()

    for step in (0.0, COOLDOWN / 2, COOLDOWN / 2 - 0.001):
        clock.advance(step)
        with pytest.raises(RedisUnavailable):
            await breaker.call(command)

    assert command.calls == []
    assert (hooks.failures, hooks.recoveries) == (1, 0)


async def test_after_the_cooldown_one_probe_runs_and_a_concurrent_call_is_refused_meanwhile() -> None:
    clock = FakeClock()
    hooks = Hooks()
    breaker = make_breaker(clock, hooks)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    probe = Command(gate=asyncio.Event())
    concurrent = Command()

    probing = asyncio.create_task(breaker.call(probe))
    await probe.started.wait()
    with pytest.raises(RedisUnavailable):
        await breaker.call(concurrent)
    assert probe.gate is not None
    probe.gate.set()

    assert await probing == "answer"
    assert len(probe.calls) == 1
    assert concurrent.calls == []


async def test_a_successful_probe_closes_the_breaker_and_calls_on_recovery_once() -> None:
    clock = FakeClock()
    hooks = Hooks()
    breaker = make_breaker(clock, hooks)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    command = Command()

    results = [await breaker.call(command) for _ in range(3)]

    assert results == ["answer"] * 3
    assert len(command.calls) == 3
    assert (hooks.failures, hooks.recoveries) == (1, 1)


async def test_a_failed_probe_opens_the_breaker_for_another_full_cooldown() -> None:
    clock = FakeClock()
    hooks = Hooks()
    breaker = make_breaker(clock, hooks)
    await open_breaker(breaker)
    clock.advance(COOLDOWN)
    await open_breaker(breaker)
    command = Command()

    clock.advance(COOLDOWN - 0.001)
    with pytest.raises(RedisUnavailable):
        await breaker.call(command)
    refused_calls = len(command.calls)
    clock.advance(0.001)
    answer = await breaker.call(command)

    assert (refused_calls, answer) == (0, "answer")
    assert (hooks.failures, hooks.recoveries) == (2, 1)


async def test_a_command_that_outlasts_the_timeout_counts_as_a_failure() -> None:
    hooks = Hooks()
    breaker = make_breaker(FakeClock(), hooks, timeout=0.01)
    never_answers = Command(gate=asyncio.Event())
    after = Command()

    async with asyncio.timeout(GENEROUS_TIMEOUT):  # a breaker that ignores its timeout fails here, not hangs
        with pytest.raises(RedisUnavailable) as raised:
            await breaker.call(never_answers)
    with pytest.raises(RedisUnavailable):
        await breaker.call(after)

    assert isinstance(raised.value.__cause__, TimeoutError)
    assert hooks.failures == 1
    assert after.calls == []


async def test_failures_within_10_seconds_of_the_last_warning_are_counted_into_the_next_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    breaker = make_breaker(clock, Hooks())

    with caplog.at_level(logging.WARNING, logger="perfshop.cache"):
        await open_breaker(breaker)
        for _ in range(4):  # probes failing 2, 4, 6 and 8 s after the first warning: no new warning yet
            clock.advance(COOLDOWN)
            await open_breaker(breaker)
        warnings_before_10_s = len(caplog.records)
        clock.advance(COOLDOWN)  # 10 s after the first warning
        await open_breaker(breaker)

    assert warnings_before_10_s == 1
    assert [(record.name, record.levelno, record.getMessage()) for record in caplog.records] == [
        (
            "perfshop.cache",
            logging.WARNING,
            "redis cache unavailable, serving from the database: refused (1 errors since the last warning)",
        ),
        (
            "perfshop.cache",
            logging.WARNING,
            "redis cache unavailable, serving from the database: refused (5 errors since the last warning)",
        ),
    ]
