"""One place that turns exceptions into what a client may see.

Known errors keep their message and `extensions.code`; database timeouts and outages get their own
codes; everything else is masked as `INTERNAL` with a request id, and logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from graphql import GraphQLError

from atlas4d.errors import INTERNAL_CODE, Atlas4DError, BadInput, DatabaseUnavailable, QueryTimeout

log = logging.getLogger("atlas4d.errors")


OPERATION_SELECTION_ERRORS = ("Unknown operation named", "Must provide operation name")

# The database is (for now) out of reach: refused, restarting, shutting down, or the connection was cut.
# AdminShutdownError (57P01) and CrashShutdownError (57P02) end the sessions of a PostgreSQL that is being
# stopped or restarted (tests/db/test_faults.py).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ConnectionDoesNotExistError,
    ConnectionError,
    OSError,
)


def _connection_lost(exc: BaseException) -> bool:
    """A driver error that stands for a lost connection. When PostgreSQL ends a session (restart, shutdown)
    around the end of a query, asyncpg's pool then resets the connection on release and fails with
    `InternalClientError: cannot switch to state …; another operation (…) is in progress` — sometimes with the
    connection error as its context, sometimes with none (the server's FATAL arrived between the query's end
    and the reset). Seen in tests/db/test_faults.py under a restart; logged as a warning where it is mapped."""
    if isinstance(exc, asyncpg.InternalClientError) and "another operation" in str(exc):
        log.warning("database connection broken under a query (%s): answered as unavailable", exc)
        return True
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, UNAVAILABLE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def domain_error(exc: BaseException) -> Atlas4DError | None:
    """The client-safe error for an exception, or None when it must be masked."""
    if isinstance(exc, Atlas4DError):
        return exc
    if isinstance(exc, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError):
        # a NUL (or an unencodable character) in an argument a resolver passed on unchecked: the client's value
        return BadInput("a text value contains a character PostgreSQL cannot store (such as NUL, \\u0000)")
    if isinstance(exc, asyncpg.InsufficientPrivilegeError) and "row-level security" in str(exc):
        from atlas4d.auth.errors import Forbidden

        # tenancy: a write that would touch (or create) a row of another tenant
        return Forbidden("this write is not permitted for your tenant")
    if isinstance(exc, asyncpg.QueryCanceledError):
        return QueryTimeout("the query took longer than the statement timeout; narrow the filter")
    if isinstance(exc, UNAVAILABLE):
        return DatabaseUnavailable("the database is unavailable; try again shortly")
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return DatabaseUnavailable("the database is unavailable; try again shortly")
    if isinstance(exc, asyncpg.InternalClientError | asyncpg.InterfaceError) and _connection_lost(exc):
        return DatabaseUnavailable("the database is unavailable; try again shortly")
    return None


def internal_message(request_id: str) -> str:
    return f"Internal server error (request id {request_id})"


def format_graphql_error(error: GraphQLError, request_id: str, phase: str = "execute") -> dict[str, Any]:
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        out["path"] = list(error.path)
    original = error.original_error
    wrapped = False
    while isinstance(original, GraphQLError):  # argument/variable coercion nests the scalar's error
        original, wrapped = original.original_error, True
    if original is None and error.message.startswith(OPERATION_SELECTION_ERRORS):
        out["extensions"] = {"code": "BAD_REQUEST"}  # as the gateway answers it
        return out
    if original is None:
        code = (error.extensions or {}).get("code") or (
            "GRAPHQL_PARSE_FAILED"
            if phase == "parse"
            else "GRAPHQL_VALIDATION_FAILED"
            if phase == "validate"
            else "BAD_USER_INPUT"
        )
        out["extensions"] = {**(error.extensions or {}), "code": code}
        return out
    known = domain_error(original)
    if known is not None:
        if known is not original or not wrapped:
            out["message"] = known.message
        # else: coercion; graphql-core's message names the argument or variable and quotes ours
        out["extensions"] = dict(known.extensions)
        return out
    if (
        (error.path is None or wrapped)
        and phase == "execute"
        and isinstance(original, ValueError | TypeError)
    ):
        # a scalar's parse_value refused a variable: graphql-core's message names the variable
        out["extensions"] = {"code": "BAD_USER_INPUT"}
        return out
    log.error("request %s: unexpected error at %s", request_id, error.path, exc_info=original)
    out["message"] = internal_message(request_id)
    out["extensions"] = {"code": INTERNAL_CODE, "requestId": request_id}
    return out
