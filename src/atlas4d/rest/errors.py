"""Error responses of the REST endpoints: one shape, the status from the error class, internals never shown.

The body keeps the Core Spec v0.3 keys (`detail`, `status_code`) and adds the gateway's stable code:
`{"error": {"code", "message", ...}, "detail", "status_code"}`. The same shape answers, app-wide, a path that
does not exist (404), a method a path does not take (405, with `Allow`) and anything that escaped a handler
(500): the original (FastAPI) answered those in JSON too, and its clients pipe every answer through `jq`.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from atlas4d.errors import INTERNAL_CODE, Atlas4DError, BadInput, DatabaseUnavailable
from atlas4d.web.errors import domain_error, internal_message

logger = logging.getLogger("atlas4d.rest")

Handler = Callable[[Request], Awaitable[Response]]

# What REST adds to the shared mapping (`atlas4d.web.errors.domain_error`): every value of a REST statement
# comes from the request, so a value the database or the driver's encoder refuses is the client's; and a
# connection lost mid-statement is an outage, not a bug.
REST_DATABASE_ERRORS: tuple[tuple[type[BaseException], type[Atlas4DError], str], ...] = (
    (asyncpg.DataError, BadInput, "a value of this request was refused by the database"),
    (
        asyncpg.PostgresConnectionError,
        DatabaseUnavailable,
        "the database connection was lost; try again shortly",
    ),
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def http_status(error: Atlas4DError) -> int:
    """The status of a domain error: the class's `http_status` (400 unless the class says otherwise)."""
    return error.http_status


def client_error(exc: BaseException) -> Atlas4DError | None:
    """The client-safe error for an exception, or None when it must be masked as internal."""
    known = domain_error(exc)
    if known is not None:
        return known
    for cls, error, message in REST_DATABASE_ERRORS:
        if isinstance(exc, cls):
            return error(message)
    return None


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS),
        status_code=status_code,
        media_type="application/json",
    )


def error_response(error: Atlas4DError) -> Response:
    status = http_status(error)
    body = {
        "error": {"message": error.message, **error.extensions},
        "detail": error.message,
        "status_code": status,
    }
    return json_response(body, status)


def internal_error_response(request_id: str) -> Response:
    message = internal_message(request_id)
    body = {
        "error": {"code": INTERNAL_CODE, "message": message, "request_id": request_id},
        "detail": message,
        "status_code": 500,
    }
    return json_response(body, 500)


def request_id_of(request: Request) -> str:
    """The request's id (set for the whole app by `atlas4d.web.middleware`), else the caller's
    `X-Request-ID` when it is a plain token, else a new one."""
    known = request.scope.get("state", {}).get("request_id")
    if isinstance(known, str):
        return known
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def rest_endpoint(handler: Handler) -> Handler:
    """Run a handler, turning domain and database errors into their responses and masking the rest."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        request_id = request_id_of(request)
        request.state.request_id = request_id  # for handlers that log (the same id the response carries)
        try:
            response = await handler(request)
        except Atlas4DError as exc:
            response = error_response(exc)
        except Exception as exc:
            mapped = client_error(exc)
            if mapped is not None:
                logger.warning("%s %s: %r (request id %s)", request.method, request.url.path, exc, request_id)
                response = error_response(mapped)
            else:
                logger.exception("%s %s failed (request id %s)", request.method, request.url.path, request_id)
                response = internal_error_response(request_id)
        response.headers["X-Request-ID"] = request_id
        return response

    return run


# Starlette's HTTPException statuses and our code for each (the original's `detail` texts are FastAPI's).
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE"}


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "BAD_REQUEST" if status < 500 else INTERNAL_CODE)
    error: dict[str, Any] = {"code": code, "message": exc.detail}
    if status == 404:
        error |= {"method": request.method, "path": request.url.path}
    headers = dict(exc.headers or {})
    if status == 405 and "allow" in {k.lower() for k in headers}:
        error["allowed"] = [
            m.strip() for m in next(v for k, v in headers.items() if k.lower() == "allow").split(",")
        ]
    response = json_response({"error": error, "detail": exc.detail, "status_code": status}, status)
    response.headers.update(headers)
    response.headers["X-Request-ID"] = request_id_of(request)
    return response


async def _unhandled(request: Request, exc: Exception) -> Response:
    request_id = request_id_of(request)
    logger.error("%s %s failed (request id %s)", request.method, request.url.path, request_id, exc_info=exc)
    response = internal_error_response(request_id)
    response.headers["X-Request-ID"] = request_id
    return response


def http_error_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """App-wide: JSON bodies for 404/405 and any HTTPException, and for errors nothing else caught."""
    return {HTTPException: _http_exception, Exception: _unhandled}
