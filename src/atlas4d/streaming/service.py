"""Starting and stopping subscriptions for the protocol faces (WebSocket, SSE) of one GraphQL endpoint.

A subscribe request goes through the endpoint's own checks (parse and validation caches, shape limits,
variables' size, cost: `GraphQLEndpoint.prepare` and its guard), then graphql-core builds the executor
(variables coerced) and calls the root field's subscribe resolver, which validates its filter and returns a
`Feed`. The feed joins the live operation of its document, operation and selection variables (one
`LiveOperation` renders each event for all of them) and is attached to the process's hub.

Queries and mutations sent over a subscription transport run once through the endpoint (`next`, `complete`).
Every operation passes the endpoint's field authorization (`atlas4d.auth.graphql.guard_operation`) for the
subscriber's principal; a subscription that selects a field the principal may not read is refused whole.
Everything runs under the subscriber's tenant (tenancy on), and its feed carries the tenant to the hub.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import DocumentNode, ExecutionResult, GraphQLSchema, OperationType, get_operation_ast
from graphql.execution.execute import create_source_event_stream
from starlette.requests import HTTPConnection

from atlas4d.auth.graphql import guard_operation
from atlas4d.auth.principal import Principal, current_tenant
from atlas4d.errors import Atlas4DError
from atlas4d.observe import metrics
from atlas4d.settings import Settings
from atlas4d.streaming.execution import (
    LiveExecutor,
    LiveOperation,
    request_errors,
    result_payload,
    selection_variables,
)
from atlas4d.streaming.hub import Feed, Hub
from atlas4d.web.graphql_http import GraphQLEndpoint, refusal

SELECTION_CACHE_SIZE = 512


class TooManySubscriptions(Atlas4DError):
    code = "TOO_MANY_SUBSCRIPTIONS"


@dataclass(frozen=True)
class Subscriber:
    """Who asks: the connection (WebSocket or SSE request; the authorization check reads its state), its
    verified principal (None: no security layer in front), and its tenant (None: tenancy off)."""

    connection: HTTPConnection
    principal: Principal | None
    tenant: str | None

    @property
    def key(self) -> str | None:
        return self.principal.rate_key if self.principal is not None else None


@dataclass
class Refused:
    """The operation did not start: request errors (the protocol's `error` message)."""

    errors: list[dict[str, Any]]


@dataclass
class Single:
    """A query, a mutation, or a subscription whose source failed: one result, then complete."""

    payload: str


@dataclass
class Live:
    feed: Feed
    operation: LiveOperation | None  # None: not rendered by the hub (an upstream subscription of a gateway)
    key: tuple[Any, ...]
    principal: str | None


# (document) -> the schema that executes it (a subgraph's, where the gateway can hand the whole operation
# over), or a message saying why it cannot be served live
Router = Callable[[DocumentNode], GraphQLSchema | str]


class LiveService:
    def __init__(
        self,
        endpoint: GraphQLEndpoint,
        settings: Settings,
        make_context: Callable[[Any, str], Any],
        route: Router | None = None,
    ) -> None:
        """`make_context(pool, request_id)` builds a resolver context; `route` picks the executing schema."""
        self.endpoint = endpoint
        self.settings = settings
        self.make_context = make_context
        self.route = route or (lambda _document: endpoint.schema)
        self.operations: dict[tuple[Any, ...], LiveOperation] = {}
        self.per_principal: dict[str, int] = {}
        self.state: Any = None  # the application's state (pool, stream hub), bound on the first connection
        # (id(document), operation) -> (document, its selection's variables): documents come from the
        # endpoint's parse cache, one object per query text, so 1,000 subscribers walk a document once
        self._selections: dict[tuple[int, str | None], tuple[DocumentNode, frozenset[str]]] = {}

    def bind(self, state: Any) -> None:
        self.state = state

    def hub(self) -> Hub:
        hub: Hub = self.state.stream_hub
        return hub

    def context_factory(self, request_id: str) -> Any:
        return self.make_context(self.state.pool, request_id)

    async def start(
        self, params: dict[str, Any], request_id: str, who: Subscriber, active_on_connection: int
    ) -> Refused | Single | Live:
        token = current_tenant.set(who.tenant)
        try:
            return await self._start(params, request_id, who, active_on_connection)
        finally:
            current_tenant.reset(token)

    async def _start(
        self, params: dict[str, Any], request_id: str, who: Subscriber, active_on_connection: int
    ) -> Refused | Single | Live:
        query, variables, operation_name = (
            params.get("query"),
            params.get("variables"),
            params.get("operationName"),
        )
        if not isinstance(query, str) or not query.strip():
            return Refused(
                [{"message": "`query` must be a non-empty string", "extensions": {"code": "BAD_REQUEST"}}]
            )
        if variables is not None and not isinstance(variables, dict):
            return Refused(
                [{"message": "`variables` must be an object", "extensions": {"code": "BAD_REQUEST"}}]
            )
        if operation_name is not None and not isinstance(operation_name, str):
            return Refused(
                [{"message": "`operationName` must be a string", "extensions": {"code": "BAD_REQUEST"}}]
            )
        document, failure = self.endpoint.prepare(query)
        if document is None:
            assert failure is not None
            return Refused(failure["errors"])
        refused = self.endpoint.guard.check_request(None, document, operation_name, variables)
        if refused is not None:
            return Refused(refusal(refused)["errors"])
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = (
                f'Unknown operation named "{operation_name}".'
                if operation_name
                else "Must provide operation name."
            )
            return Refused([{"message": message, "extensions": {"code": "BAD_REQUEST"}}])
        guarded = guard_operation(self.endpoint, who.connection, document, query, operation_name)
        if guarded.refused is not None:
            return Refused(orjson.loads(bytes(guarded.refused.body))["errors"])
        if operation.operation is not OperationType.SUBSCRIPTION:
            context = self.context_factory(request_id)
            result = await self.endpoint.execute(
                guarded.document, guarded.query, variables, operation_name, context, request_id
            )
            if "data" not in result:
                return Refused(result["errors"])
            return Single(orjson.dumps(await guarded.finish(result, request_id)).decode())
        if guarded.changed:  # a live operation is executed per event for many subscribers: all or nothing
            return Refused(guarded.decision.errors)
        principal = who.key
        limits = self._limits(principal, active_on_connection)
        if limits is not None:
            return Refused(refusal(limits)["errors"])
        return await self.subscribe(document, query, variables, operation_name, request_id, who)

    async def subscribe(
        self,
        document: DocumentNode,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        request_id: str,
        who: Subscriber,
    ) -> Refused | Single | Live:
        """Start a subscription that passed the checks: on the schema `route` picks (a gateway's service
        overrides this to run the subscription through its query planner, federation/subscriptions.py)."""
        schema = self.route(document)
        if isinstance(schema, str):
            return Refused([{"message": schema, "extensions": {"code": "BAD_REQUEST"}}])
        return await self._subscribe(schema, document, query, variables, operation_name, request_id, who)

    def _limits(self, principal: str | None, active_on_connection: int) -> TooManySubscriptions | None:
        s = self.settings
        if active_on_connection >= s.max_subscriptions_per_connection:
            return TooManySubscriptions(
                f"this connection already has {active_on_connection} subscriptions; the most is "
                f"{s.max_subscriptions_per_connection}",
                maximum=s.max_subscriptions_per_connection,
            )
        if (
            principal is not None
            and self.per_principal.get(principal, 0) >= s.max_subscriptions_per_principal
        ):
            return TooManySubscriptions(
                f"these credentials already hold {s.max_subscriptions_per_principal} subscriptions",
                maximum=s.max_subscriptions_per_principal,
            )
        return None

    async def _subscribe(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        request_id: str,
        who: Subscriber,
    ) -> Refused | Single | Live:
        built = LiveExecutor.build(
            schema,
            document,
            context_value=self.context_factory(request_id),
            raw_variable_values=variables,
            operation_name=operation_name,
            hide_suggestions=not self.settings.suggestions,
        )
        if isinstance(built, list):
            return Refused(request_errors(built, request_id))
        stream = create_source_event_stream(built)
        if inspect.isawaitable(stream):
            stream = await stream
        if isinstance(stream, ExecutionResult):
            return Single(result_payload(stream, request_id))
        if not isinstance(stream, Feed):
            raise TypeError(f"a subscription resolver returned {type(stream).__name__}, not a live Feed")
        relevant = self.relevant_variables(document, operation_name, variables)
        key = (id(schema), query, operation_name, relevant, who.tenant)
        return await self.attach(
            stream,
            key,
            lambda: LiveOperation(built, lambda: self.context_factory(request_id), request_id),
            who,
        )

    def relevant_variables(
        self, document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None
    ) -> bytes:
        """The variables the selection reads (not those that only pick events), as a key."""
        names = self._selection_variables(document, operation_name)
        return orjson.dumps(
            {k: v for k, v in (variables or {}).items() if k in names}, option=orjson.OPT_SORT_KEYS
        )

    async def attach(
        self, feed: Feed, key: tuple[Any, ...], make: Callable[[], LiveOperation], who: Subscriber
    ) -> Live:
        """Render `feed` with the operation of `key` (made by `make` for its first subscriber) and attach it to
        the hub. One renderer per selection and tenant (its nested fields load under that tenant), shared by
        every principal of the tenant: an event's rendering reads no principal (field authorization is decided
        whole at subscribe time), so 1,000 users of one tenant cost one execution per event."""
        operation = self.operations.get(key)
        if operation is None:
            operation = self.operations[key] = make()
        operation.subscribers += 1
        principal = who.key
        if principal is not None:
            self.per_principal[principal] = self.per_principal.get(principal, 0) + 1
        feed.renderer = operation
        feed.tenant = who.tenant
        hub = self.hub()
        await hub.ensure_started()
        hub.attach(feed)
        metrics.subscription_started("all")
        return Live(feed, operation, key, principal)

    def _selection_variables(self, document: DocumentNode, operation_name: str | None) -> frozenset[str]:
        key = (id(document), operation_name)
        hit = self._selections.get(key)
        if hit is not None and hit[0] is document:
            return hit[1]
        names = selection_variables(document, operation_name)
        if len(self._selections) >= SELECTION_CACHE_SIZE:
            self._selections.pop(next(iter(self._selections)))
        self._selections[key] = (document, names)  # holding the document keeps its id its own
        return names

    def stop(self, live: Live) -> None:
        self.hub().detach(live.feed)
        metrics.subscription_ended("all")
        live.feed.sink = None
        if live.operation is not None:
            live.operation.subscribers -= 1
            if live.operation.subscribers <= 0:
                self.operations.pop(live.key, None)
        if live.principal is not None:
            left = self.per_principal.get(live.principal, 1) - 1
            if left > 0:
                self.per_principal[live.principal] = left
            else:
                self.per_principal.pop(live.principal, None)
