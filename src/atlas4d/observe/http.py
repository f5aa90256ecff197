"""The outermost ASGI middleware: each HTTP request's latency metric, its server span (joining the caller's
`traceparent`), and the request scope the log lines read their request id from.

Pure ASGI, like `atlas4d.web.middleware`; it only watches `http.response.start` for the status. When metrics
and tracing are both off it is not installed at all.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.middleware import Middleware

from atlas4d.observe import metrics, tracing

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

# the request being served in this context (log lines take its request id from it)
current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("atlas4d_scope", default=None)

_EXACT = frozenset(
    {
        "/graphql",
        "/health",
        "/ready",
        "/metrics",
        "/map",
        "/docs",
        "/openapi.json",
        "/api/stats",
        "/api/observations",
        "/api/anomalies",
        "/api/geojson/observations",
    }
)
_PREFIXES = ("/subgraphs/", "/ingest/", "/graphiql/", "/map/", "/docs/", "/api/")


def route_family(path: str) -> str:
    """A bounded label for a path: known routes by name, the rest by prefix, else `other`."""
    if path in _EXACT:
        return path
    for prefix in _PREFIXES:
        if path.startswith(prefix):
            return prefix.rstrip("/")
    return "other"


def request_id() -> str | None:
    scope = current_scope.get()
    if scope is None:
        return None
    state = scope.get("state") or {}
    rid = state.get("request_id")
    return rid if isinstance(rid, str) else None


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            token = current_scope.set(scope)
            try:
                await self.app(scope, receive, send)
            finally:
                current_scope.reset(token)
            return
        status = 500
        started = time.perf_counter()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = current_scope.set(scope)
        try:
            if tracing.tracing_on():
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
                with tracing.server_span(scope["method"], route_family(scope["path"]), headers) as span:
                    try:
                        await self.app(scope, receive, watch)
                    finally:
                        span.set_attribute("http.response.status_code", status)
                        rid = request_id()
                        if rid is not None:
                            span.set_attribute("atlas4d.request_id", rid)
            else:
                await self.app(scope, receive, watch)
        finally:
            current_scope.reset(token)
            metrics.http_request(
                route_family(scope["path"]), scope["method"], status, time.perf_counter() - started
            )


def observe_middleware() -> list[Middleware]:
    """The middleware when metrics or tracing is on (nothing otherwise)."""
    if metrics.instruments() is None and not tracing.tracing_on():
        return []
    return [Middleware(Observe)]
