"""GraphQL over HTTP for a graphql-core schema: GET and POST, GraphiQL, limits, caches, orjson.

Parsing and validation are cached per document text (they depend only on the text and the schema), which
saves about a millisecond per request. Mutations are refused over GET. The response media type and the status
of request errors (parse, validation, variables) follow the GraphQL-over-HTTP spec (`web/negotiation.py`).
"""

from __future__ import annotations

import re
import time
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

from atlas4d.auth.graphql import guard_operation, principal_max_cost
from atlas4d.db.replicas import mark_read_only
from atlas4d.errors import Atlas4DError, RequestTooLarge
from atlas4d.observe import metrics, tracing
from atlas4d.settings import Settings
from atlas4d.web.byte_cache import ByteLRU, document_weight
from atlas4d.web.cost_model import CostModel
from atlas4d.web.errors import format_graphql_error
from atlas4d.web.fast_executor import FastExecutor
from atlas4d.web.graphiql import assets_installed, graphiql_html
from atlas4d.web.guard import OperationGuard, without_suggestions
from atlas4d.web.negotiation import (
    APPLICATION_JSON,
    is_request_error,
    negotiated,
    not_acceptable,
    request_error_status,
    response_media_type,
)
from atlas4d.web.persisted import PersistedQueries, Refusal

ContextFactory = Callable[[Request, str], Awaitable[Any]]
# (document, operation name, variables, context) -> the result, or None to execute normally (compiled pages)
FastAnswer = Callable[
    [DocumentNode, str | None, dict[str, Any] | None, Any], Awaitable[ExecutionResult | None]
]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_of(request: Request) -> str:
    """The request's id (`atlas4d.web.middleware` sets it for the whole app); without the middleware the
    caller's X-Request-ID when it is a plain token (it is echoed in headers and logs), else ours."""
    given = request.scope.get("state", {}).get("request_id")
    if isinstance(given, str):
        return given
    sent = request.headers.get("x-request-id", "")
    return sent if _SAFE_REQUEST_ID.match(sent) else uuid4().hex[:16]


def wants_graphiql(request: Request) -> bool:
    """A browser opening the endpoint: GET, HTML accepted, no operation in the URL."""
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
        and "extensions" not in request.query_params
    )


def graphiql_page() -> HTMLResponse:
    """GraphiQL from our own files, posting to the page's own URL; 503 with set-up advice when they are missing."""
    return HTMLResponse(graphiql_html(), status_code=200 if assets_installed() else 503)


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


def error_response(
    code: str, message: str, status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers)


def refusal(exc: Atlas4DError) -> dict[str, Any]:
    """The body of a request refused before execution (no `data`: a request error)."""
    return {"errors": [{"message": exc.message, "extensions": dict(exc.extensions)}]}


def persisted_refusal(refused: Refusal, media: str) -> JSONResponse:
    """A persisted-operation request that cannot run (web/persisted.py says why)."""
    if refused.status is not None:
        return error_response(refused.code, refused.message, refused.status)
    # a hash the client must resend with its text: never cached by a proxy (as Apollo Server)
    headers = {"cache-control": "private, no-cache, must-revalidate"}
    return error_response(refused.code, refused.message, request_error_status(media), headers)


class GraphQLEndpoint:
    def __init__(
        self,
        schema: GraphQLSchema,
        settings: Settings,
        context: ContextFactory,
        fast_answer: FastAnswer | None = None,
        *,
        public: bool = True,
        cost_model: CostModel | None = None,
    ) -> None:
        """`public=False` for subgraph endpoints, which gateways call with generated operations: trusted
        documents (ATLAS4D_TRUSTED_DOCUMENTS) are not enforced there."""
        self.schema = schema
        self.settings = settings
        self.context = context
        self.fast_answer = fast_answer
        self.public = public
        self.persisted = PersistedQueries.from_settings(settings)
        self.guard = OperationGuard(schema, settings, cost_model)  # limits checked before anything runs
        self.guard.max_cost = principal_max_cost(self, settings.max_cost)  # per role (policy file `limits`)
        rules = list(specified_rules)
        if not settings.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules = rules
        self._documents: ByteLRU[str, tuple[DocumentNode | None, dict[str, Any] | None]] = ByteLRU(
            settings.cache_bytes, 1024
        )

    async def handle(self, request: Request) -> Response:
        media = response_media_type(request.headers.get("accept"))
        if media is None:
            if not wants_graphiql(request):
                return not_acceptable()
            media = APPLICATION_JSON  # the page is HTML; only its error answers would be JSON
        return negotiated(await self.respond(request, media), media)

    async def respond(self, request: Request, media: str) -> Response:
        request_id = request_id_of(request)
        if request.method == "GET":
            if wants_graphiql(request):
                if not self.settings.graphiql:
                    return error_response("NOT_FOUND", "GraphiQL is disabled", 404)
                return graphiql_page()
            if not self.settings.get_queries:
                return error_response(
                    "METHOD_NOT_ALLOWED", "queries over GET are turned off; use POST", 405, {"allow": "POST"}
                )
            params: dict[str, Any] = dict(request.query_params)
            for key in ("variables", "extensions"):
                if key in params:
                    try:
                        params[key] = orjson.loads(params[key])
                    except orjson.JSONDecodeError:
                        return error_response("BAD_REQUEST", f"`{key}` is not JSON", 400)
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
            return error_response("METHOD_NOT_ALLOWED", "use GET or POST", 405, {"allow": "GET, POST"})
        if not isinstance(params, dict):
            return error_response("BAD_REQUEST", "the request body must be a JSON object", 400)
        if params.get("extensions") is not None and not isinstance(params["extensions"], dict):
            return error_response("BAD_REQUEST", "`extensions` must be an object", 400)
        query = self.persisted.resolve(params.get("query"), params.get("extensions"), enforce=self.public)
        if isinstance(query, Refusal):
            return persisted_refusal(query, media)
        variables = params.get("variables")
        operation_name = params.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return error_response("BAD_REQUEST", "`query` must be a non-empty string", 400)
        if variables is not None and not isinstance(variables, dict):
            return error_response("BAD_REQUEST", "`variables` must be an object", 400)
        if operation_name is not None and not isinstance(operation_name, str):
            return error_response("BAD_REQUEST", "`operationName` must be a string", 400)
        started = time.perf_counter()
        with tracing.span("graphql.operation", **{"graphql.operation.name": operation_name or ""}):
            result = await self.run(request, query, variables, operation_name, request_id)
        metrics.graphql_request(operation_name, _outcome(result), time.perf_counter() - started)
        if isinstance(result, Response):
            return result
        if not self.settings.suggestions and "errors" in result:
            without_suggestions(result["errors"])  # also those of subgraphs and the gateway's own coercion
        # a response without `data` is a request error (the operation did not start)
        status = request_error_status(media) if "data" not in result else 200
        return JSONResponse(result, status_code=status, headers={"x-request-id": request_id})

    def prepare(self, query: str) -> tuple[DocumentNode | None, dict[str, Any] | None]:
        """Parse and validate (cached); returns the document or a 400 payload."""
        if len(query) > self.settings.max_query_bytes:
            # graphql-core's lexer walks comments and strings in Python: ~0.11 µs a character, so an 8 MB
            # document held the event loop for a second before any token limit could apply
            too_long = RequestTooLarge(
                f"the query text is {len(query):,} characters; the most is {self.settings.max_query_bytes:,}",
                maximum=self.settings.max_query_bytes,
            )
            return None, refusal(too_long)
        cached = self._documents.get(query)
        if cached is not None:
            return cached
        try:
            document = parse(query, max_tokens=self.settings.max_tokens)
        except GraphQLError as exc:
            payload = {"errors": [format_graphql_error(exc, "-", "parse")]}
            if "tokens" in exc.message and "more than" in exc.message:
                payload["errors"][0]["extensions"]["code"] = "QUERY_TOO_COMPLEX"
            out: tuple[DocumentNode | None, dict[str, Any] | None] = (None, payload)
        else:
            refused = self.guard.check_document(document)  # before validation, whose cost it bounds
            errors = (
                validate(self.schema, document, self.rules, hide_suggestions=not self.settings.suggestions)
                if refused is None
                else []
            )
            if refused is not None:
                out = (None, refusal(refused))
            elif errors:
                out = (None, {"errors": [format_graphql_error(e, "-", "validate") for e in errors]})
            else:
                out = (document, None)
        self._documents.put(query, out, document_weight(query, out[0]))
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
            assert failure is not None
            return failure
        refused = self.guard.check_request(request, document, operation_name, variables)
        if refused is not None:
            return refusal(refused)
        kind = _operation_type(document, operation_name)
        if request.method == "GET" and kind is not None and kind is not OperationType.QUERY:
            return error_response(
                "METHOD_NOT_ALLOWED", "only queries may be sent with GET", 405, {"allow": "POST"}
            )
        guarded = guard_operation(self, request, document, query, operation_name)  # atlas4d.auth
        if guarded.refused is not None:
            return guarded.refused
        document, query = guarded.document, guarded.query
        mark_read_only(request, kind is OperationType.QUERY)  # a replica may serve it (atlas4d.db.replicas)
        context = await self.context(request, request_id)
        result = await self.execute(document, query, variables, operation_name, context, request_id)
        return await guarded.finish(result, request_id)

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
        if self.fast_answer is not None:
            fast = await self.fast_answer(document, operation_name, variables, context)
            if fast is not None:
                return format_result(fast, request_id)
        result = execute(
            self.schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            executor_class=FastExecutor,
            hide_suggestions=not self.settings.suggestions,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return format_result(result, request_id)


def format_result(result: ExecutionResult, request_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.errors:
        out["errors"] = [format_graphql_error(e, request_id) for e in result.errors]
    out["data"] = result.data
    if is_request_error(out):  # variables refused before any field ran: no `data`, as the gateway says it
        del out["data"]
    return out


def _outcome(result: dict[str, Any] | Response) -> str:
    """ok, error (errors beside data), or refused (a request error: the operation did not run)."""
    if isinstance(result, Response) or "data" not in result:
        return "refused"
    return "error" if result.get("errors") else "ok"


def _operation_type(document: DocumentNode, name: str | None) -> OperationType | None:
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode) and (name is None or (d.name and d.name.value == name)):
            return d.operation
    return None
