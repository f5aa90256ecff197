"""Starting without the database, and recovering when it comes back (Core Spec §4.2: graceful degradation).

The original Atlas4D gateway started when PostgreSQL was unreachable and said so on `/health`; ours exited.
Now: if the first connection fails for a reason that can heal (refused, timed out, server starting, too many
connections, database or role not there yet), the app starts with an `UnavailablePool` in `app.state.pool`
and a background task retries (migrations, then the pool) with backoff until it succeeds; then the real pool
replaces the stand-in and every face serves again. Errors that cannot heal by waiting (an edited migration)
still stop the start.

The stand-in raises `asyncpg.CannotConnectNowError` (SQLSTATE 57P03, "cannot connect now") on every use, which
the one error mapping (`atlas4d.web.errors.domain_error`) already answers as `DATABASE_UNAVAILABLE` (REST:
503), so no face needs to know it is degraded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, NoReturn

import asyncpg

log = logging.getLogger("atlas4d.db")

# What waiting can cure.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.ConnectionDoesNotExistError,
)

UNAVAILABLE_MESSAGE = "the database is unavailable; try again shortly"


class _FailingAcquire:
    async def __aenter__(self) -> NoReturn:
        raise asyncpg.CannotConnectNowError(UNAVAILABLE_MESSAGE)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def __await__(self) -> Any:
        return self.__aenter__().__await__()


class UnavailablePool:
    """Stands in for the asyncpg pool while the database is unreachable; every use fails as unavailable."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def acquire(self) -> _FailingAcquire:
        return _FailingAcquire()

    async def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise asyncpg.CannotConnectNowError(UNAVAILABLE_MESSAGE)

    fetch = fetchrow = fetchval = execute = executemany = copy_records_to_table = _fail

    async def close(self) -> None:
        return None


def is_unavailable(pool: object) -> bool:
    return isinstance(pool, UnavailablePool)


def describe(exc: BaseException) -> str:
    """A one-line reason for logs (never sent to clients)."""
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


async def keep_trying(
    connect: Callable[[], Awaitable[asyncpg.Pool]],
    on_connected: Callable[[asyncpg.Pool], None],
    max_interval_s: float,
) -> None:
    """Call `connect` with growing pauses (0.5 s doubling up to `max_interval_s`) until it works."""
    pause = 0.5
    while True:
        await asyncio.sleep(pause)
        try:
            pool = await connect()
        except UNREACHABLE as exc:
            pause = min(pause * 2, max_interval_s)
            log.warning("database still unreachable (%s); next try in %.1f s", describe(exc), pause)
            continue
        on_connected(pool)
        log.warning("database reachable again: serving normally")
        return
