"""GraphQL over HTTP for a graphql-core schema: GET and POST, GraphiQL, limits, caches, orjson.

Parsing and validation are cached per document text (they depend only on the text and the schema), which
saves about a millisecond per request. Mutations are refused over GET. Parse and validation errors
answer 400, as Apollo Server does; execution errors answer 200 with `errors`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html

from atlas4d.errors import RequestTooLarge
from atlas4d.settings import Settings
from atlas4d.web.errors import format_graphql_error
from atlas4d.web.fast_executor import FastExecutor
from atlas4d.web.limits import limit_rules

ContextFactory = Callable[[Request, str], Awaitable[Any]]
# (request, document, operation name, variables) -> a whole response body, or None to execute normally
FastAnswer = Callable[[Request, DocumentNode, str | None, dict[str, Any] | None], Awaitable[bytes | None]]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class _LRU(OrderedDict[str, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_of(request: Request) -> str:
    """The caller's X-Request-ID when it is a plain token (it is echoed in headers and logs), else ours."""
    sent = request.headers.get("x-request-id", "")
    return sent if _SAFE_REQUEST_ID.match(sent) else uuid4().hex[:16]


def graphiql_html() -> str:
    """GraphiQL (loaded by the browser from its CDN), posting to the page's own URL."""
    return get_graphql_ide_html("graphiql")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"request body is larger than {limit} bytes")
    return bytes(body)


def is_json(content_type: str) -> bool:
    """application/json, or any application/*+json type (e.g. application/graphql-response+json)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)


class GraphQLEndpoint:
    def __init__(
        self,
        schema: GraphQLSchema,
        settings: Settings,
        context: ContextFactory,
        fast_answer: FastAnswer | None = None,
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.context = context
        self.fast_answer = fast_answer
        rules = [*specified_rules, *limit_rules(settings.max_query_depth, settings.max_aliases)]
        if not settings.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules = rules
        self._documents = _LRU(1024)

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        if request.method == "GET":
            if "text/html" in request.headers.get("accept", "") and "query" not in request.query_params:
                if not self.settings.graphiql:
                    return error_response("NOT_FOUND", "GraphiQL is disabled", 404)
                return HTMLResponse(graphiql_html())
            params: dict[str, Any] = dict(request.query_params)
            if "variables" in params:
                try:
                    params["variables"] = orjson.loads(params["variables"])
                except orjson.JSONDecodeError:
                    return error_response("BAD_REQUEST", "`variables` is not JSON", 400)
        elif request.method == "POST":
            if not is_json(request.headers.get("content-type", "")):
                # Browsers send text/plain, form and multipart bodies cross-site without a preflight: running
                # them would let any web page call our mutations (CSRF). JSON needs the preflight.
                return error_response(
                    "BAD_REQUEST", "POST bodies must be sent with Content-Type: application/json", 415
                )
            try:
                body = await read_body(request, self.settings.max_body_bytes)
            except RequestTooLarge as exc:
                return error_response(exc.code, exc.message, 413)
            try:
                params = orjson.loads(body)
            except orjson.JSONDecodeError:
                return error_response("BAD_REQUEST", "the request body is not JSON", 400)
            if isinstance(params, list):
                return error_response("BAD_REQUEST", "batched requests are not supported", 400)
        else:
            return error_response("METHOD_NOT_ALLOWED", "use GET or POST", 405)
        if not isinstance(params, dict):
            return error_response("BAD_REQUEST", "the request body must be a JSON object", 400)
        query = params.get("query")
        variables = params.get("variables")
        operation_name = params.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return error_response("BAD_REQUEST", "`query` must be a non-empty string", 400)
        if variables is not None and not isinstance(variables, dict):
            return error_response("BAD_REQUEST", "`variables` must be an object", 400)
        if operation_name is not None and not isinstance(operation_name, str):
            return error_response("BAD_REQUEST", "`operationName` must be a string", 400)
        result = await self.run(request, query, variables, operation_name, request_id)
        if isinstance(result, Response):
            return result
        # a response without `data` is a request error (the operation did not start), as Apollo answers it
        status = 200 if "data" in result else 400
        return JSONResponse(result, status_code=status, headers={"x-request-id": request_id})

    def prepare(self, query: str) -> tuple[DocumentNode | None, dict[str, Any] | None]:
        """Parse and validate (cached); returns the document or a 400 payload."""
        cached = self._documents.get(query)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        try:
            document = parse(query, max_tokens=self.settings.max_tokens)
        except GraphQLError as exc:
            payload = {"errors": [format_graphql_error(exc, "-", "parse")]}
            if "tokens" in exc.message and "more than" in exc.message:
                payload["errors"][0]["extensions"]["code"] = "QUERY_TOO_COMPLEX"
            out: tuple[DocumentNode | None, dict[str, Any] | None] = (None, payload)
        else:
            errors = validate(self.schema, document, self.rules)
            if errors:
                out = (None, {"errors": [format_graphql_error(e, "-", "validate") for e in errors]})
            else:
                out = (document, None)
        self._documents.put(query, out)
        return out

    async def run(
        self,
        request: Request,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        request_id: str,
    ) -> dict[str, Any] | Response:
        document, failure = self.prepare(query)
        if document is None:
            return JSONResponse(failure, status_code=400)
        kind = _operation_type(document, operation_name)
        if request.method == "GET" and kind is not None and kind is not OperationType.QUERY:
            return error_response("METHOD_NOT_ALLOWED", "only queries may be sent with GET", 405)
        if self.fast_answer is not None:
            body = await self.fast_answer(request, document, operation_name, variables)
            if body is not None:
                return Response(body, media_type="application/json", headers={"x-request-id": request_id})
        context = await self.context(request, request_id)
        return await self.execute(document, query, variables, operation_name, context, request_id)

    async def execute(
        self,
        document: DocumentNode,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        request_id: str,
    ) -> dict[str, Any]:
        """Execute a validated document (the gateway overrides this to plan across subgraphs)."""
        result = execute(
            self.schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            executor_class=FastExecutor,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return format_result(result, request_id)


def format_result(result: ExecutionResult, request_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.errors:
        out["errors"] = [format_graphql_error(e, request_id) for e in result.errors]
    out["data"] = result.data
    return out


def _operation_type(document: DocumentNode, name: str | None) -> OperationType | None:
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode) and (name is None or (d.name and d.name.value == name)):
            return d.operation
    return None
