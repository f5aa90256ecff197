"""CORS for the whole app (GraphQL, subgraphs, the Core Spec REST endpoints, bulk ingest), from
`ATLAS4D_CORS_ORIGINS`.

Starlette's CORSMiddleware does the matching, the Vary headers and the simple-response headers; this subclass
adds what it cannot express: a preflight answers 204 (no body), and credentials (cookies, `Authorization`
sent by the browser with `credentials: "include"`) are allowed only for origins listed exactly — an origin
that merely matches a pattern, or any origin under `*`, may read responses but not with the user's
credentials, so a wildcard can never hand a logged-in user's session to an arbitrary site.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Send

# what browsers send to us besides the CORS-safelisted headers (Apollo Client, urql, graphql-request, fetch)
ALLOWED_HEADERS = (
    "content-type",
    "authorization",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-request-id",
    "x-graphql-event-stream-token",  # graphql-sse single connection mode (streaming/sse_single.py)
)
# PUT and DELETE: graphql-sse's single connection mode reserves a stream and stops operations with them
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")
EXPOSED_HEADERS = ("x-request-id",)
CREDENTIALS = "access-control-allow-credentials"


def origin_pattern(patterns: Sequence[str]) -> str | None:
    """One regex for the entries with a `*` (`https://*.example.com`, `http://localhost:*`): a `*` stands for
    one or more host or port characters, never a `/`; None when there are none."""
    parts = [re.escape(p).replace(r"\*", "[A-Za-z0-9.-]+") for p in patterns if "*" in p and p.strip() != "*"]
    return "|".join(f"(?:{p})" for p in parts) or None


class CORS(CORSMiddleware):
    def __init__(self, app: ASGIApp, origins: Sequence[str], max_age: int = 600) -> None:
        entries = [o.strip().rstrip("/") for o in origins if o.strip()]
        self.credential_origins = frozenset(e for e in entries if "*" not in e)
        super().__init__(
            app,
            allow_origins=[e for e in entries if "*" not in e or e == "*"],
            allow_origin_regex=origin_pattern(entries),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=True,  # then stripped per origin below
            expose_headers=EXPOSED_HEADERS,
            max_age=max_age,
        )

    def _strip_credentials(self, headers: MutableHeaders, origin: str | None) -> None:
        if origin not in self.credential_origins and CREDENTIALS in headers:
            del headers[CREDENTIALS]

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        kept = [(k, v) for k, v in answer.raw_headers if k not in (b"content-length", b"content-type")]
        headers = MutableHeaders(raw=kept)
        self._strip_credentials(headers, request_headers.get("origin"))
        if answer.status_code != 200:  # a refused preflight: Starlette's 400 saying what was refused
            return Response(answer.body, answer.status_code, dict(headers), media_type="text/plain")
        return Response(status_code=204, headers=dict(headers))

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        async def strip(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._strip_credentials(MutableHeaders(scope=message), request_headers.get("origin"))
            await send(message)

        await super().send(message, strip, request_headers)


def cors_middleware(origins: Sequence[str], max_age: int) -> list[Middleware]:
    """The middleware list for Starlette(middleware=...): empty when no origin is configured (same-origin
    only: browsers refuse cross-origin reads, no CORS header is sent)."""
    if not any(o.strip() for o in origins):
        return []
    return [Middleware(CORS, origins=list(origins), max_age=max_age)]


__all__ = ["ALLOWED_HEADERS", "CORS", "cors_middleware"]
