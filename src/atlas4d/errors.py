"""One error hierarchy with stable `extensions.code` values.

Every error a client can see is an `Atlas4DError`; anything else is masked by the schema's error
extension (code `INTERNAL`, with a request id for the logs). docs/errors.md lists every code, and a
test checks that list against this module.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Atlas4DError(Exception):
    code: ClassVar[str] = "BAD_REQUEST"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class BadInput(Atlas4DError):
    code = "BAD_USER_INPUT"


class BadBBox(BadInput):
    code = "BAD_BBOX"


class BadGeometry(BadInput):
    code = "BAD_GEOMETRY"


class BadTimeRange(BadInput):
    code = "BAD_TIME_RANGE"


class BadDuration(BadInput):
    code = "BAD_DURATION"


class BadCursor(BadInput):
    code = "BAD_CURSOR"


class PageTooLarge(BadInput):
    code = "PAGE_TOO_LARGE"


class BatchTooLarge(BadInput):
    code = "BATCH_TOO_LARGE"


class UnsupportedMediaType(BadInput):
    """A body in a media type the route does not take (REST writes take JSON only: browsers send text/plain and
    form bodies cross-site without a CORS preflight, so accepting them would allow CSRF)."""

    http_status: ClassVar[int] = 415


class InvalidItem(BadInput):
    """One bad item of a batch mutation; `index` and `field` say which."""

    code = "INVALID_ITEM"


class Conflict(Atlas4DError):
    code = "CONFLICT"
    http_status = 409


class NotFound(Atlas4DError):
    code = "NOT_FOUND"
    http_status = 404


class QueryTooComplex(Atlas4DError):
    code = "QUERY_TOO_COMPLEX"


class RequestTooLarge(Atlas4DError):
    code = "REQUEST_TOO_LARGE"
    http_status = 413


class BodyTimeout(Atlas4DError):
    """The client did not send its request body in time (ATLAS4D_BODY_TIMEOUT_MS)."""

    code = "BODY_TIMEOUT"
    http_status = 408


class RequestTimeout(Atlas4DError):
    """The request passed its deadline (ATLAS4D_REQUEST_TIMEOUT_MS); its resolvers and SQL were cancelled."""

    code = "REQUEST_TIMEOUT"
    http_status = 504


class QueryTimeout(Atlas4DError):
    code = "QUERY_TIMEOUT"
    http_status = 503


class DatabaseUnavailable(Atlas4DError):
    code = "DATABASE_UNAVAILABLE"
    http_status = 503


class MigrationError(Atlas4DError):
    code = "MIGRATION_ERROR"
    http_status = 500


INTERNAL_CODE = "INTERNAL"
# sent by the HTTP layer before any resolver runs
PROTOCOL_CODES = (
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
    "METHOD_NOT_ALLOWED",
    "NOT_ACCEPTABLE",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_SUPPORTED",
    "PERSISTED_QUERY_NOT_IN_LIST",
)
# sent by the federation gateway about a subgraph
GATEWAY_CODES = (
    "DOWNSTREAM_SERVICE_ERROR",
    "SUBGRAPH_UNAVAILABLE",
    "SUBGRAPH_TIMEOUT",
    "SUBGRAPH_BAD_RESPONSE",
)


def all_codes() -> set[str]:
    """Every code a client can receive (used by the docs test)."""
    codes = {INTERNAL_CODE, *PROTOCOL_CODES, *GATEWAY_CODES}
    pending: list[type[Atlas4DError]] = [Atlas4DError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes
