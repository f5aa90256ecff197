"""What the client raises. Every server error keeps the server's stable `code` (`extensions.code` in GraphQL,
`error.code` in REST; see the gateway's docs/errors.md).

`HTTPError` is also an `httpx.HTTPStatusError`, so code written for the original Atlas4D SDK
(`except httpx.HTTPStatusError as e: e.response.status_code`) keeps working. Connection failures and timeouts
are httpx's own exceptions (`httpx.ConnectError`, `httpx.TimeoutException`), as in the original.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx


class Atlas4DError(Exception):
    """Base class; `code` is the server's stable error code (or a client-side one, see subclasses)."""

    code: str

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of a GraphQL response's `errors`."""

    message: str
    code: str | None
    path: tuple[str | int, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ErrorDetail:
        extensions = raw.get("extensions") or {}
        code = extensions.get("code") if isinstance(extensions, Mapping) else None
        return cls(
            message=str(raw.get("message", "")),
            code=str(code) if code is not None else None,
            path=tuple(raw.get("path") or ()),
            extensions=extensions if isinstance(extensions, Mapping) else {},
        )


class GraphQLError(Atlas4DError):
    """The server answered with `errors`. `code` is the first error's code; `errors` has them all and `data`
    whatever partial data came with them (None when none did)."""

    def __init__(
        self, errors: Sequence[ErrorDetail], data: Mapping[str, Any] | None, status_code: int
    ) -> None:
        first = errors[0] if errors else ErrorDetail("empty errors list", None)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.message}{more}", first.code or "GRAPHQL_ERROR")
        self.errors = tuple(errors)
        self.data = data
        self.status_code = status_code


class HTTPError(Atlas4DError, httpx.HTTPStatusError):
    """A REST endpoint (or the server in front of GraphQL) answered 4xx/5xx. `field` names the bad parameter
    when the server said which."""

    def __init__(self, response: httpx.Response) -> None:
        code, message, bad_field = _rest_error(response)
        httpx.HTTPStatusError.__init__(self, message, request=response.request, response=response)
        self.message = message
        self.code = code
        self.field = bad_field
        self.status_code = response.status_code


class ProtocolError(Atlas4DError):
    """The server's answer was not what the GraphQL-over-HTTP or REST contract promises (e.g. not JSON)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "PROTOCOL_ERROR")


def _rest_error(response: httpx.Response) -> tuple[str, str, str | None]:
    """The gateway's REST error body is `{"error": {"code", "message", "field"?}, "detail", "status_code"}`;
    other servers (the original FastAPI service) send only `detail`."""
    fallback = f"HTTP {response.status_code} from {response.request.method} {response.request.url.path}"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP_{response.status_code}", fallback, None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and "code" in error:
            bad = error.get("field")
            return str(error["code"]), str(error.get("message", fallback)), str(bad) if bad else None
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            detail = ErrorDetail.from_json(errors[0])
            return detail.code or f"HTTP_{response.status_code}", detail.message, None
        if "detail" in body:
            return f"HTTP_{response.status_code}", str(body["detail"]), None
    return f"HTTP_{response.status_code}", fallback, None
