"""How the executor reaches a subgraph: in-process on its GraphQLSchema, or over HTTP.

A local subgraph runs the fetch's pre-parsed document with graphql-core `execute` on the subgraph's own schema:
no HTTP, no JSON encoding; representations are handed over as Python dicts. A remote subgraph is called with a
shared, pooled `httpx.AsyncClient`.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson
from graphql import DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema, execute
from graphql.execution.executor import Executor

JSON = dict[str, Any]


@dataclass
class SubgraphResponse:
    data: JSON | None
    errors: list[JSON] = field(default_factory=list)


class SubgraphFailure(Exception):
    """The subgraph gave no usable GraphQL response (unreachable, timed out, not JSON, HTTP error)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


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


def remember_missing_sniffio() -> None:
    """httpcore tries `import sniffio` several times per request; when sniffio is not installed each failed
    import searches sys.path again (~170 µs each, ~0.7 ms per subgraph call). Record the absence once, the
    way Python's import system would if it cached misses. No effect when sniffio is installed."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


@dataclass
class RemoteSubgraph:
    """A subgraph reached over HTTP; the client is shared by all remote subgraphs of a gateway."""

    name: str
    url: str
    client: httpx.AsyncClient
    headers: Mapping[str, str] = field(default_factory=dict)
    requests: int = 0

    async def fetch(
        self, document: DocumentNode, text: str, variables: JSON, operation_name: str | None, context: Any
    ) -> SubgraphResponse:
        self.requests += 1
        body: JSON = {"query": text, "variables": variables}
        if operation_name:
            body["operationName"] = operation_name
        content = orjson.dumps(body)
        headers = {"content-type": "application/json", "accept": "application/json", **self.headers}
        try:
            try:
                response = await self.client.post(self.url, content=content, headers=headers)
            except httpx.RemoteProtocolError:
                # Most often a pooled keep-alive connection the server had just closed. Queries are tried once
                # more; a mutation may have run, so it is not.
                if text.startswith("mutation"):
                    raise
                response = await self.client.post(self.url, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise SubgraphFailure("SUBGRAPH_TIMEOUT", f"timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise SubgraphFailure("SUBGRAPH_UNAVAILABLE", f"request failed: {type(exc).__name__}") from exc
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise SubgraphFailure("SUBGRAPH_BAD_RESPONSE", f"HTTP {response.status_code}, not JSON") from exc
        if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
            raise SubgraphFailure(
                "SUBGRAPH_BAD_RESPONSE", f"HTTP {response.status_code}, not a GraphQL response"
            )
        data = payload.get("data")
        errors = payload.get("errors") or []
        return SubgraphResponse(
            data if isinstance(data, dict) else None, [e for e in errors if isinstance(e, dict)]
        )
