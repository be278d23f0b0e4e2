"""The one translation of database faults for every SQL adapter: a database that cannot answer is `Unavailable`."""

import sqlite3
from types import TracebackType

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from domain.errors import Unavailable

# A database that cannot be reached, locked past the busy timeout, or a pool with no connection free in time,
# whatever the statement. The drivers' own errors reach the statements run on the driver connection directly.
_CONNECTION_ERRORS = (
    OperationalError,
    InterfaceError,
    sqlite3.OperationalError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
    PoolTimeout,
)
# SQLSTATE classes of a server that cannot serve right now: connection exceptions (08) and operator
# intervention (57P: shutting down, crashed, starting up) - as while PostgreSQL restarts.
_UNAVAILABLE_SQLSTATES = ("08", "57P")


def as_unavailable(error: BaseException) -> Unavailable | None:
    """The `Unavailable` that `error` means to a client, or None when it is a fault of another kind."""
    if isinstance(error, _CONNECTION_ERRORS):
        return Unavailable("the database is unavailable; retry shortly")
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or _sqlstate_unavailable(error.orig):
            return Unavailable("the database connection was lost; retry shortly")
    elif _sqlstate_unavailable(error):
        # asyncpg's own errors on the driver connection, and the dialect's translation of them that a pool
        # checkout raises (`AsyncAdapt_asyncpg_dbapi.Error`, which keeps the SQLSTATE): both carry `sqlstate`.
        return Unavailable("the database connection was lost; retry shortly")
    return None


def connection_lost(error: BaseException) -> bool:
    """Whether a driver error means its connection is dead: the pool must discard it, and a read may be retried."""
    if isinstance(error, OSError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError):
        return True
    return isinstance(error, asyncpg.PostgresError) and _sqlstate_unavailable(error)


def _sqlstate_unavailable(error: object) -> bool:
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


class _DatabaseErrors:
    """`async with database_errors:` raises `Unavailable` in place of a fault that `as_unavailable` recognises."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        translated = None if error is None else as_unavailable(error)
        if translated is not None:
            raise translated from error


database_errors = _DatabaseErrors()
