"""The Redis client of the adapters, and the circuit breaker that makes callers fail open rather than wait."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from domain.ports import Clock

R = TypeVar("R")

logger = logging.getLogger("perfshop.cache")

_WARNING_INTERVAL = 10.0
_SPARE_CONNECTIONS = 4


def make_redis_client(url: str, timeout: float, calls: int = 64, read_timeout: float | None = None) -> "Redis":
    """A client for the Redis adapters: connects within `timeout`, no retries of its own (the callers fail open
    instead); its pool holds `calls` connections, plus room for a subscription and the upkeep."""
    pool = ConnectionPool.from_url(
        url,
        max_connections=calls + _SPARE_CONNECTIONS,
        socket_connect_timeout=timeout,
        socket_timeout=read_timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return Redis(connection_pool=pool)


class RedisUnavailable(Exception):
    """Redis did not answer in time or the breaker is open: the caller acts as on a miss."""


class CircuitBreaker:
    """Redis calls within a timeout: open after a failure, then one probe call once the cooldown has passed."""

    def __init__(
        self,
        *,
        timeout: float,
        cooldown: float,
        calls: int,
        clock: Clock,
        on_failure: Callable[[], None],
        on_recovery: Callable[[], None],
    ) -> None:
        self._timeout = timeout
        self._cooldown = cooldown
        # Callers queue here rather than in the pool: a semaphore is cheaper than a blocking pool's condition, and
        # a full pool would raise instead of waiting.
        self._calls = asyncio.Semaphore(calls)
        self._clock = clock
        self._on_failure = on_failure
        self._on_recovery = on_recovery
        self._open_until: float | None = None
        self._probing = False
        self._errors_since_warning = 0
        self._last_warning = -_WARNING_INTERVAL

    async def call(self, command: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """`command(*args, **kwargs)` within the timeout; RedisUnavailable when it fails or the breaker is open."""
        probe = self._open_until is not None
        if probe:
            if self._probing or self._clock() < self._open_until:  # type: ignore[operator]
                raise RedisUnavailable
            self._probing = True
        try:
            async with asyncio.timeout(self._timeout), self._calls:
                result = await command(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as error:
            self._failed(error)
            raise RedisUnavailable from error
        if probe:
            self._open_until = None
            self._probing = False
            logger.warning("redis cache reachable again")
            self._on_recovery()
        return result

    def _failed(self, error: BaseException) -> None:
        now = self._clock()
        self._errors_since_warning += 1
        self._open_until = now + self._cooldown
        self._probing = False
        self._on_failure()
        if now - self._last_warning >= _WARNING_INTERVAL:
            logger.warning(
                "redis cache unavailable, serving from the database: %s (%d errors since the last warning)",
                type(error).__name__ if not str(error) else error,
                self._errors_since_warning,
            )
            self._last_warning = now
            self._errors_since_warning = 0
