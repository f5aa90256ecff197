"""How the executor reaches a subgraph: in-process on its GraphQLSchema, or over HTTP.

A local subgraph runs the fetch's pre-parsed document with graphql-core `execute` on the subgraph's own schema:
no HTTP, no JSON encoding; representations are handed over as Python dicts.

A remote subgraph is POSTed to through one `HttpClient` per gateway: an aiohttp session with a pool of keep-alive
connections (at most `max_connections`, idle ones closed after `keepalive_timeout`), a total timeout per request,
no cookie jar. The client was chosen by measurement (`python -m bench.federation`, floor rows; docs/performance.md):
on the benchmark's two-fetch proxy over fast JS subgraphs, httpx cost 5.5 to 8 CPU-ms per request — most of it in
httpcore's connection pool, which checks every pooled connection on every request (httpcore #1035) — aiohttp
~1.0, aiosonic ~0.9, pyreqwest ~0.85 and a bare hand-written asyncio client ~0.55. aiohttp is the one kept: by far
the best maintained and most used of the fast ones, with its C HTTP parser; the hand-written client's remaining
~0.2 CPU-ms per fetch did not justify owning an HTTP/1.1 implementation (chunked bodies, TLS, connection reuse
races) — see docs/federation.md for what the gateway spends instead.

Failures are typed (`SubgraphFailure.code`, documented in docs/errors.md): `SUBGRAPH_TIMEOUT` (no answer within
the timeout), `SUBGRAPH_UNAVAILABLE` (connection refused, reset, or closed without an answer),
`SUBGRAPH_BAD_RESPONSE` (an answer that is not a GraphQL response, e.g. an HTML 502 page; `status` keeps the HTTP
status). A GraphQL response is used whatever its HTTP status (GraphQL over HTTP answers 4xx with `errors`). A
query whose pooled connection turns out closed by the subgraph is sent once more on a new connection; a mutation
is not (it may have run).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson
from graphql import DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema, execute
from graphql.execution.executor import Executor

JSON = dict[str, Any]
log = logging.getLogger("atlas4d.federation")

DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_KEEPALIVE_S = 30.0


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
        assert isinstance(result, ExecutionResult)
        fmt = self.format_error
        errors = [fmt(e, context_value) if fmt else dict(e.formatted) for e in result.errors or ()]
        return SubgraphResponse(result.data, errors)


class HttpClient:
    """The pooled HTTP client a gateway's remote subgraphs share. The aiohttp session is made on first use,
    inside the running event loop (each uvicorn worker has its own)."""

    def __init__(
        self,
        timeout: float,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_S,
    ) -> None:
        self.timeout = timeout
        self.max_connections = max_connections
        self.keepalive_timeout = keepalive_timeout
        self._session: aiohttp.ClientSession | None = None

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, keepalive_timeout=self.keepalive_timeout, ttl_dns_cache=300
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            cookie_jar=aiohttp.DummyCookieJar(),  # a gateway must not carry one client's cookies to another
            skip_auto_headers=("User-Agent",),
        )

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, retry: bool
    ) -> tuple[int, bytes]:
        """POST `body`; the status and the whole response body. Raises SubgraphFailure."""
        session = self._session
        if session is None or session.closed:
            session = self._session = self._new_session()
        for attempt in (1, 2):
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    return response.status, await response.read()
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # Most often a pooled keep-alive connection the subgraph had just closed.
                if not retry or attempt == 2:
                    raise SubgraphFailure("SUBGRAPH_UNAVAILABLE", f"connection lost: {exc!r}") from exc
            except TimeoutError as exc:
                raise SubgraphFailure("SUBGRAPH_TIMEOUT", f"no answer within {self.timeout:g} s") from exc
            except aiohttp.ClientError as exc:
                raise SubgraphFailure("SUBGRAPH_UNAVAILABLE", f"request failed: {exc!r}") from exc
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


@dataclass
class RemoteSubgraph:
    """A subgraph reached over HTTP; the client is shared by all remote subgraphs of a gateway."""

    name: str
    url: str
    client: HttpClient
    headers: Mapping[str, str] = field(default_factory=dict)
    requests: int = 0

    def __post_init__(self) -> None:
        self._headers = {**JSON_HEADERS, **self.headers}

    async def fetch(
        self, document: DocumentNode, text: str, variables: JSON, operation_name: str | None, context: Any
    ) -> SubgraphResponse:
        self.requests += 1
        body: JSON = {"query": text, "variables": variables}
        if operation_name:
            body["operationName"] = operation_name
        try:
            status, content = await self.client.post(
                self.url, orjson.dumps(body), self._headers, retry=not text.startswith("mutation")
            )
            payload = _graphql_response(status, content)
        except SubgraphFailure as failure:
            log.warning("subgraph %s at %s: %s (%s)", self.name, self.url, failure.code, failure.detail)
            raise
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
