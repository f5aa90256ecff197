"""The gateway: a supergraph, its planner, and a way to reach every subgraph.

    gateway = Gateway.from_supergraph(sdl, local={"core": core_schema})  # others over HTTP from the file
    response = await gateway.execute("{ entity(id: 1) { name } }")
    ...
    await gateway.aclose()

Local subgraphs (a Strawberry schema or a graphql-core GraphQLSchema) run in-process; every other subgraph is
called at the URL the supergraph gives for it, through one pooled HTTP client.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.validation import NoSchemaIntrospectionCustomRule

from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.errors import FederationError, PlanningError
from atlas4d.federation.executor import PlanExecutor, batched_plan, internal_error, log, request_id_of
from atlas4d.federation.http_client import HttpClient
from atlas4d.federation.planner import (
    FetchNode,
    ParallelNode,
    PlanNode,
    QueryPlan,
    QueryPlanner,
    SequenceNode,
)
from atlas4d.federation.subgraph import subgraph_sdl
from atlas4d.federation.supergraph import Supergraph
from atlas4d.federation.transport import (
    DEFAULT_MAX_CONNECTIONS,
    JSON,
    LocalSubgraph,
    RemoteSubgraph,
    Subgraph,
)
from atlas4d.observe import tracing
from atlas4d.web.byte_cache import DEFAULT_BUDGET, ByteLRU, document_weight

DEFAULT_TIMEOUT_S = 30.0
LOCAL_ROUTING_URL = "http://127.0.0.1:4000/subgraphs/{name}/graphql"


def fetch_sdl(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """A running subgraph's SDL, from `_service { sdl }` (blocking: for start-up and the CLI)."""
    response = httpx.post(url, json={"query": "{ _service { sdl } }"}, timeout=timeout)
    response.raise_for_status()
    payload = response.json()
    try:
        return str(payload["data"]["_service"]["sdl"])
    except (KeyError, TypeError) as exc:
        raise FederationError(
            f"{url} does not answer `_service {{ sdl }}`: is it a federation subgraph?"
        ) from exc


def as_graphql_schema(schema: object) -> GraphQLSchema:
    """Accept a graphql-core schema or a Strawberry schema (its `_schema`)."""
    if isinstance(schema, GraphQLSchema):
        return schema
    inner = getattr(schema, "_schema", None)
    if isinstance(inner, GraphQLSchema):
        return inner
    raise TypeError(f"not a GraphQL schema: {type(schema).__name__}")


class Gateway:
    def __init__(
        self,
        supergraph: Supergraph,
        subgraphs: Mapping[str, Subgraph],
        *,
        introspection: bool = True,
        http_client: HttpClient | None = None,
        document_cache_size: int = 1024,
        document_cache_bytes: int = DEFAULT_BUDGET,
        override_labels: Iterable[str] = (),
    ) -> None:
        """`override_labels`: progressive-override labels always on (others: `percent(N)` labels are drawn per
        request, and a request's context may switch labels on, see `request_override_labels`)."""
        self.supergraph = supergraph
        self.override_labels = frozenset(override_labels)
        self.subgraphs = dict(subgraphs)
        self.introspection = introspection
        self.timeout = DEFAULT_TIMEOUT_S  # a remote subgraph's subscription handshake (upstream_ws.py)
        self.planner = QueryPlanner(supergraph)
        self.executor = PlanExecutor(supergraph.api_schema, self.subgraphs)
        self._http_client = http_client
        # bounded in bytes too: a few huge documents must not pin memory (web/byte_cache.py, issue 12)
        self._documents: ByteLRU[str, tuple[DocumentNode | None, list[GraphQLError]]] = ByteLRU(
            document_cache_bytes, document_cache_size
        )
        self._plans_by_text: ByteLRU[tuple[str, str | None, frozenset[str]], QueryPlan] = ByteLRU(
            document_cache_bytes, document_cache_size
        )
        rules = list(specified_rules)
        if not introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self._rules = rules

    @classmethod
    def from_supergraph(
        cls,
        sdl: str | Supergraph,
        *,
        local: Mapping[str, object] | None = None,
        context_factories: Mapping[str, Callable[[Any], Any]] | None = None,
        urls: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        introspection: bool = True,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        override_labels: Iterable[str] = (),
        subgraph_headers: Mapping[str, str] | None = None,
        subscription_urls: Mapping[str, str] | None = None,
    ) -> Gateway:
        """A gateway over a supergraph: `local` subgraphs in-process, the rest over HTTP (subscriptions over
        graphql-transport-ws: at `subscription_urls[name]`, else the subgraph's URL with ws:// or wss://).

        `urls` overrides the URL the supergraph names for a subgraph; `context_factories` builds the context a
        local subgraph's resolvers get from the gateway request's context; `subgraph_headers` go with every
        request to a remote subgraph (the subgraph secret, docs/security.md).
        """
        supergraph = sdl if isinstance(sdl, Supergraph) else Supergraph.parse(sdl)
        local = dict(local or {})
        factories = dict(context_factories or {})
        urls = dict(urls or {})
        unknown = set(local) - set(supergraph.graphs)
        if unknown:
            raise FederationError(f"local subgraphs not in the supergraph: {', '.join(sorted(unknown))}")
        client: HttpClient | None = None
        subgraphs: dict[str, Subgraph] = {}
        for name, info in supergraph.graphs.items():
            if name in local:
                subgraphs[name] = LocalSubgraph(
                    name,
                    as_graphql_schema(local[name]),
                    factories.get(name),
                    executor_class=getattr(local[name], "execution_context_class", None),
                )
                continue
            if client is None:
                client = HttpClient(timeout, max_connections=max_connections)
            subgraphs[name] = RemoteSubgraph(
                name,
                urls.get(name, info.url),
                client,
                dict(subgraph_headers or {}),
                subscription_url=(subscription_urls or {}).get(name),
            )
        gateway = cls(
            supergraph,
            subgraphs,
            introspection=introspection,
            http_client=client,
            override_labels=override_labels,
        )
        gateway.timeout = timeout
        return gateway

    @classmethod
    def from_subgraphs(
        cls,
        local: Mapping[str, object] | None = None,
        remote: Mapping[str, str] | None = None,
        *,
        local_url: str = LOCAL_ROUTING_URL,
        remote_sdls: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Gateway:
        """Compose local schemas (run in-process) and remote subgraphs (SDL read from their `_service`, or
        given in `remote_sdls`) with our composition, and build the gateway over the result.

        `local_url` is the routing URL written into the supergraph for local subgraphs (what Apollo Router or
        Hive Gateway would call, e.g. the main server's `/subgraphs/NAME/graphql`); `gateway.supergraph.sdl`
        is the composed supergraph. Other options as for `from_supergraph`. Raises CompositionError.
        """
        local = dict(local or {})
        remote = dict(remote or {})
        given = dict(remote_sdls or {})
        sources = [
            SubgraphSource(name, local_url.format(name=name), subgraph_sdl(schema))
            for name, schema in local.items()
        ]
        sources += [
            SubgraphSource(name, url, given.get(name) or fetch_sdl(url)) for name, url in remote.items()
        ]
        return cls.from_supergraph(compose(sources), local=local, **options)

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    # --- requests -----------------------------------------------------------------------------------------
    def document(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """Parse and validate against the API schema, cached by query text."""
        cached = self._documents.get(query)
        if cached is not None:
            return cached
        try:
            document = parse(query)
        except GraphQLError as error:
            return None, [error]
        errors = validate(self.supergraph.api_schema, document, self._rules)
        result = (document if not errors else None, list(errors))
        self._documents.put(query, result, document_weight(query, document))
        return result

    def request_override_labels(self, context: Any = None) -> frozenset[str]:
        """The progressive-override labels on for one request, as Apollo Router decides them: `percent(N)`
        labels are on for N% of requests (drawn per request), other labels when the gateway was built with them
        or the request's context lists them (`override_labels` key of a dict context, or attribute)."""
        labels = self.planner.override_labels
        if not labels:
            return frozenset()
        given = context.get("override_labels") if isinstance(context, dict) else None
        if given is None:
            given = getattr(context, "override_labels", None)
        wanted = self.override_labels | frozenset(given or ())
        on: set[str] = set()
        for label in labels:
            percent = _percent(label)
            if label in wanted or (percent is not None and random.random() * 100 < percent):
                on.add(label)
        return frozenset(on)

    def _plan_for(
        self,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        labels: frozenset[str] = frozenset(),
    ) -> QueryPlan:
        """The planner caches by normalised document; this first looks the exact query text up (no printing)."""
        key = (query, operation_name, labels)
        plan = self._plans_by_text.get(key)
        if plan is None:
            plan = self.planner.plan(document, operation_name, labels)
            self._plans_by_text.put(key, plan, document_weight(query, document))
        return plan

    def plan(
        self, query: str, operation_name: str | None = None, override_labels: frozenset[str] = frozenset()
    ) -> QueryPlan:
        document, errors = self.document(query)
        if document is None:
            raise FederationError("; ".join(e.message for e in errors))
        return self._plan_for(query, document, operation_name, override_labels)

    async def execute(
        self,
        query: str,
        variables: JSON | None = None,
        operation_name: str | None = None,
        context: Any = None,
        *,
        allow_mutations: bool = True,
        document: DocumentNode | None = None,
    ) -> JSON:
        """Validate, plan and run `query`. `document`: the query's document as the caller already changed it
        (a transform before planning, such as authorization removing fields a principal may not see): planned
        as given — cached by its printed form, not by the query text — and not validated again."""
        transformed = document is not None
        if document is None:
            document, errors = self.document(query)
            if document is None:
                return {"errors": [_format(e, "GRAPHQL_VALIDATION_FAILED") for e in errors]}
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = (
                f'Unknown operation named "{operation_name}".'
                if operation_name
                else "Must provide operation name if query contains multiple operations."
            )
            return {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
        if operation.operation == OperationType.SUBSCRIPTION:
            return {
                "errors": [
                    {
                        "message": "Subscriptions are served over WebSocket (graphql-transport-ws) or "
                        "Server-Sent Events (Accept: text/event-stream), not as a single response.",
                        "extensions": {"code": "BAD_REQUEST"},
                    }
                ]
            }
        if operation.operation == OperationType.MUTATION and not allow_mutations:
            return {
                "errors": [
                    {"message": "Mutations need a POST request.", "extensions": {"code": "BAD_REQUEST"}}
                ]
            }
        coerced = _coerce(self.supergraph.api_schema, operation, variables or {})
        if isinstance(coerced, list):
            return {"errors": [_coercion_error(e) for e in coerced]}
        try:
            labels = self.request_override_labels(context)
            with tracing.span("plan"):
                plan = (
                    self.planner.plan(document, operation_name, labels)
                    if transformed
                    else self._plan_for(query, document, operation_name, labels)
                )
        except FederationError as exc:
            return {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}
        except Exception:
            request_id = request_id_of(context)
            log.exception("request %s: planning failed", request_id)
            return {"errors": [internal_error(request_id)]}
        return await self.executor.execute(plan, variables or {}, coerced, context)

    def plan_subscription(
        self,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: JSON | None,
        context: Any = None,
    ) -> PlannedSubscription | list[JSON]:
        """The plan of a (validated) subscription, split into its root fetch — the subscription sent to the
        subgraph owning the root field — and the rest, run on each event; or the errors refusing it."""
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation != OperationType.SUBSCRIPTION:
            return [{"message": "Not a subscription.", "extensions": {"code": "BAD_REQUEST"}}]
        coerced = _coerce(self.supergraph.api_schema, operation, variables or {})
        if isinstance(coerced, list):
            return [_coercion_error(e) for e in coerced]
        try:
            labels = self.request_override_labels(context)
            plan = self._plan_for(query, document, operation_name, labels)
            root, rest = split_subscription_plan(plan)
        except FederationError as exc:
            return [{"message": str(exc), "extensions": {"code": exc.code}}]
        except Exception:
            request_id = request_id_of(context)
            log.exception("request %s: planning a subscription failed", request_id)
            return [internal_error(request_id)]
        root_variables = {n: variables[n] for n in root.variable_usages if variables and n in variables}
        batched = batched_plan(rest) if rest is not None else None
        return PlannedSubscription(plan, root, rest, batched, dict(variables or {}), coerced, root_variables)


@dataclass(frozen=True)
class PlannedSubscription:
    plan: QueryPlan
    root: FetchNode  # the subscription sent to the subgraph owning the root field
    rest: PlanNode | None  # run on each event (entity fetches), None when the root fetch is all
    batched: PlanNode | None  # `rest` over a list of events (executor.batched_plan), None: event by event
    variables: JSON
    coerced: JSON
    root_variables: JSON  # the root fetch's variables


def split_subscription_plan(plan: QueryPlan) -> tuple[FetchNode, PlanNode | None]:
    """A subscription's plan starts with one fetch to the subgraph owning its root field, every other fetch
    reading that fetch's data (entity fetches): that fetch, and what runs after it per event."""
    node = plan.node
    rest: PlanNode | None = None
    if isinstance(node, SequenceNode) and node.nodes:
        first, after = node.nodes[0], node.nodes[1:]
        rest = (after[0] if len(after) == 1 else SequenceNode(list(after))) if after else None
        node = first
    if not isinstance(node, FetchNode) or node.entity or node.operation_kind != "subscription":
        raise PlanningError("The subscription cannot be planned as one subscription to one subgraph.")
    if rest is not None and _root_fetches(rest):
        raise PlanningError("The subscription's fields need a second subscription; select fewer.")
    return node, rest


def _root_fetches(node: PlanNode) -> bool:
    """Whether a plan node holds a fetch that is not an entity fetch."""
    if isinstance(node, SequenceNode | ParallelNode):
        return any(_root_fetches(child) for child in node.nodes)
    if isinstance(node, FetchNode):
        return not node.entity
    return False  # Flatten and Batch nodes are entity fetches


def _percent(label: str) -> float | None:
    """N of a `percent(N)` label (0-100), else None."""
    if label.startswith("percent(") and label.endswith(")"):
        try:
            return float(label[len("percent(") : -1])
        except ValueError:
            return None
    return None


def _coerce(
    schema: GraphQLSchema, operation: OperationDefinitionNode, variables: JSON
) -> JSON | list[GraphQLError]:
    if not operation.variable_definitions:
        return {}  # nothing to coerce (values of undeclared variables are never read)
    result = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(result, list):
        return result
    return dict(result.coerced)


def _coercion_error(error: GraphQLError) -> JSON:
    """A variable the API schema refused: with the scalar's own code when its parser raised a coded error (as
    the platform's adopted scalars do, and as the subgraph itself would answer), else BAD_USER_INPUT."""
    formatted = _format(error, "BAD_USER_INPUT")
    original = error.original_error
    while isinstance(original, GraphQLError):
        original = original.original_error
    extensions = getattr(original, "extensions", None)
    if isinstance(extensions, dict) and extensions.get("code"):
        formatted["extensions"] = dict(extensions)
    return formatted


def _format(error: GraphQLError, code: str) -> JSON:
    formatted: JSON = dict(error.formatted)
    extensions = formatted.get("extensions")
    formatted["extensions"] = {**(extensions if isinstance(extensions, dict) else {}), "code": code}
    return formatted
