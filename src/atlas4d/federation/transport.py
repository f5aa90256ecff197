"""How the executor reaches a subgraph: in-process on its GraphQLSchema, or over HTTP.

A local subgraph runs the fetch's pre-parsed document with graphql-core `execute` on the subgraph's own schema:
no HTTP, no JSON encoding; representations are handed over as Python dicts.

A remote subgraph is POSTed to through the gateway's one `HttpClient` (http_client.py: keep-alive connections
pooled per origin, a total timeout per request; its docstring says why it is not httpx or aiohttp, with the
measurements). JSON is encoded and decoded with orjson.

Failures are typed (`SubgraphFailure.code`, documented in docs/errors.md): `SUBGRAPH_TIMEOUT` (no answer within
the timeout), `SUBGRAPH_UNAVAILABLE` (connection refused, reset, or closed without an answer),
`SUBGRAPH_BAD_RESPONSE` (an answer that is not a GraphQL response, e.g. an HTML 502 page; `status` keeps the HTTP
status). A GraphQL response is used whatever its HTTP status (GraphQL over HTTP answers 4xx with `errors`). A
query whose pooled connection turns out closed by the subgraph is sent once more on a new connection; a mutation
is not (it may have run).
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from graphql import DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema, execute
from graphql.execution.executor import Executor

from atlas4d.federation.http_client import HttpClient, HttpError
from atlas4d.observe import metrics, tracing

JSON = dict[str, Any]
log = logging.getLogger("atlas4d.federation")

DEFAULT_MAX_CONNECTIONS = 100
MAX_CACHED_BODIES = 1024
FAILURE_CODES = {
    "timeout": "SUBGRAPH_TIMEOUT",
    "unavailable": "SUBGRAPH_UNAVAILABLE",
    "bad_response": "SUBGRAPH_BAD_RESPONSE",
}

# Headers of the client's request that remote subgraphs receive too (`ATLAS4D_PROPAGATE_HEADERS`, e.g. the
# bearer token); set per request by the HTTP layer (atlas4d.auth.http).
forwarded_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "atlas4d_forwarded_headers", default=None
)


# never forwarded: they describe our request to the subgraph, not the client's
_OWN_HEADERS = frozenset(
    {"host", "content-length", "content-type", "accept", "connection", "transfer-encoding"}
)


def _header_lines(headers: Mapping[str, str]) -> bytes:
    """Forwarded headers as request-head lines; a name or value that could split the head is dropped."""
    lines = [
        f"{name}: {value}\r\n"
        for name, value in headers.items()
        if name.lower() not in _OWN_HEADERS and not any(c in name + value for c in "\r\n\0")
    ]
    return "".join(lines).encode("latin-1", "replace")


@dataclass
class SubgraphResponse:
    data: JSON | None
    errors: list[JSON] = field(default_factory=list)


class SubgraphFailure(Exception):
    """The subgraph gave no usable GraphQL response (unreachable, timed out, not JSON, HTTP error)."""

    def __init__(self, code: str, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


class Subgraph(Protocol):
    name: str
    requests: int

    async def fetch(
        self, document: DocumentNode, text: str, variables: JSON, operation_name: str | None, context: Any
    ) -> SubgraphResponse: ...


@dataclass
class LocalSubgraph:
    """A subgraph whose schema lives in this process (a Strawberry schema's `_schema`, or any GraphQLSchema)."""

    name: str
    schema: GraphQLSchema
    context_factory: Callable[[Any], Any] | None = None
    requests: int = 0
    # Strawberry schemas run with their own execution context (resolvers expect its `info`).
    executor_class: type[Executor[Any]] | None = None
    # how a GraphQLError of this subgraph is reported, given the (subgraph's) context; default: as is
    format_error: Callable[[GraphQLError, Any], JSON] | None = None

    async def fetch(
        self, document: DocumentNode, text: str, variables: JSON, operation_name: str | None, context: Any
    ) -> SubgraphResponse:
        self.requests += 1
        context_value = self.context_factory(context) if self.context_factory else context
        started = time.perf_counter()
        with tracing.span(f"fetch {self.name}", **{"atlas4d.subgraph": self.name}):
            result = execute(
                self.schema,
                document,
                variable_values=variables,
                operation_name=operation_name,
                context_value=context_value,
                executor_class=self.executor_class,
            )
            if inspect.isawaitable(result):
                result = await result
        metrics.subgraph_fetch(self.name, "local", time.perf_counter() - started, None)
        assert isinstance(result, ExecutionResult)
        fmt = self.format_error
        errors = [fmt(e, context_value) if fmt else dict(e.formatted) for e in result.errors or ()]
        return SubgraphResponse(result.data, errors)


JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


@dataclass
class RemoteSubgraph:
    """A subgraph reached over HTTP; the client is shared by all remote subgraphs of a gateway."""

    name: str
    url: str
    client: HttpClient
    headers: Mapping[str, str] = field(default_factory=dict)
    requests: int = 0
    # graphql-transport-ws URL for subscriptions (None: `url` with ws:// or wss://, upstream_ws.py)
    subscription_url: str | None = None

    def __post_init__(self) -> None:
        self._head = self.client.request_head(self.url, {**JSON_HEADERS, **self.headers})
        # the JSON of the request body up to its variables, per operation (plans' operations are fixed)
        self._bodies: dict[tuple[str, str | None], bytes] = {}

    async def fetch(
        self, document: DocumentNode, text: str, variables: JSON, operation_name: str | None, context: Any
    ) -> SubgraphResponse:
        self.requests += 1
        start = self._bodies.get((text, operation_name))
        if start is None:
            start = b'{"query":' + orjson.dumps(text)
            if operation_name:
                start += b',"operationName":' + orjson.dumps(operation_name)
            start += b',"variables":'
            if len(self._bodies) >= MAX_CACHED_BODIES:
                self._bodies.clear()
            self._bodies[text, operation_name] = start
        body = start + orjson.dumps(variables) + b"}"
        forwarded = forwarded_headers.get()
        head = self._head + _header_lines(forwarded) if forwarded else self._head
        started = time.perf_counter()
        try:
            with tracing.client_span(f"fetch {self.name}", **{"atlas4d.subgraph": self.name}) as trace:
                try:
                    status, content = await self.client.post(
                        self.url,
                        head + _header_lines(trace) if trace else head,  # W3C traceparent, when tracing
                        body,
                        retry=not text.startswith("mutation"),
                    )
                except HttpError as error:
                    raise SubgraphFailure(FAILURE_CODES[error.kind], str(error)) from error
                payload = _graphql_response(status, content)
        except SubgraphFailure as failure:
            metrics.subgraph_fetch(self.name, "http", time.perf_counter() - started, failure.code)
            log.warning("subgraph %s at %s: %s (%s)", self.name, self.url, failure.code, failure.detail)
            raise
        metrics.subgraph_fetch(self.name, "http", time.perf_counter() - started, None)
        data = payload.get("data")
        errors = payload.get("errors") or []
        return SubgraphResponse(
            data if isinstance(data, dict) else None, [e for e in errors if isinstance(e, dict)]
        )


def _graphql_response(status: int, content: bytes) -> JSON:
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise SubgraphFailure("SUBGRAPH_BAD_RESPONSE", f"HTTP {status}, not JSON", status) from exc
    if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
        raise SubgraphFailure("SUBGRAPH_BAD_RESPONSE", f"HTTP {status}, not a GraphQL response", status)
    return payload
