"""The platform's own supergraph: core plus the enabled modules, composed in-process and served by our
gateway at /graphql, with every local subgraph executed in this process (no HTTP hop).

All local subgraphs of one request share one `Context`, so core's DataLoaders batch across subgraphs too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    print_ast,
    print_schema,
    specified_scalar_types,
    validate,
)
from graphql.utilities import get_default_value_ast
from starlette.requests import Request
from starlette.routing import BaseRoute, Route, WebSocketRoute

from atlas4d.core.compiled import compiled_answer
from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.db.replicas import pool_for
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.planner.nodes import FetchNode
from atlas4d.federation.subgraph import subgraph_sdl
from atlas4d.federation.subscriptions import PlannedLiveService
from atlas4d.federation.supergraph import Supergraph
from atlas4d.federation.transport import JSON, LocalSubgraph, SubgraphResponse
from atlas4d.modules.contract import Module
from atlas4d.modules.serving import graphql_schema_of, loader_factories
from atlas4d.observe import tracing
from atlas4d.settings import Settings
from atlas4d.streaming.service import Router
from atlas4d.streaming.sse import METHODS as SSE_METHODS
from atlas4d.streaming.sse import GraphQLSSE
from atlas4d.streaming.ws import GraphQLWebSocket
from atlas4d.web.cost_model import cost_model_from_sdl
from atlas4d.web.errors import format_graphql_error
from atlas4d.web.fast_executor import FastExecutor
from atlas4d.web.graphql_http import FastAnswer, GraphQLEndpoint
from atlas4d.web.negotiation import is_request_error

DEFAULT_BASE_URL = "http://127.0.0.1:4000"
log = logging.getLogger("atlas4d.platform")


def local_schemas(modules: Sequence[Module]) -> dict[str, strawberry.federation.Schema]:
    schemas = {"core": build_core_schema()}
    for m in sorted(modules, key=lambda m: m.name):
        schemas[m.name] = m.subgraph()
    return schemas


def compose_schemas(
    schemas: dict[str, strawberry.federation.Schema], base_url: str = DEFAULT_BASE_URL
) -> str:
    """The supergraph SDL of these subgraphs, each at `base_url`/subgraphs/NAME/graphql."""
    return compose(
        [SubgraphSource(n, f"{base_url}/subgraphs/{n}/graphql", subgraph_sdl(s)) for n, s in schemas.items()]
    )


def compose_local(modules: Sequence[Module], base_url: str = DEFAULT_BASE_URL) -> str:
    return compose_schemas(local_schemas(modules), base_url)


def api_sdl(modules: Sequence[Module]) -> str:
    """The schema clients see at /graphql (no `join__`, `link__`, `_entities` or `_service`): what codegen,
    relay-compiler and GraphiQL should read. Committed as graphql/schema.graphql."""
    return print_schema(Supergraph.parse(compose_local(modules)).api_schema) + "\n"


def _masked(error: GraphQLError, context: Any) -> dict[str, Any]:
    """Our one error formatter (internals masked), as on /subgraphs/NAME."""
    return format_graphql_error(error, getattr(context, "request_id", "-"))


@dataclass
class InProcessSubgraph(LocalSubgraph):
    """A local subgraph run with the fast executor and the request's shared `Context`, its errors masked."""

    passthrough: bool = False  # see agrees_with_api
    fast_answer: FastAnswer | None = None  # core's compiled pages, for the client's own document

    @classmethod
    def of(cls, name: str, schema: GraphQLSchema, fast_answer: FastAnswer | None = None) -> InProcessSubgraph:
        return cls(name, schema, executor_class=FastExecutor, format_error=_masked, fast_answer=fast_answer)

    async def fetch_document(
        self, document: DocumentNode, text: str, variables: JSON, operation_name: str | None, context: Any
    ) -> SubgraphResponse:
        """The client's own document, run as is (see GatewayEndpoint.execute); compiled pages may answer it.
        Their data may hold JSON fragments, which only a response being serialised may carry."""
        if self.fast_answer is not None:
            with tracing.span("compiled page", **{"atlas4d.subgraph": self.name}):
                result = await self.fast_answer(document, operation_name, variables, context)
            if result is not None:
                self.requests += 1
                return SubgraphResponse(result.data, [_masked(e, context) for e in result.errors or ()])
        return await self.fetch(document, text, variables, operation_name, context)


def build_gateway(settings: Settings, modules: Sequence[Module]) -> Gateway:
    schemas = local_schemas(modules)
    supergraph = Supergraph.parse(compose_schemas(schemas))
    subgraphs = {
        n: InProcessSubgraph.of(
            n, graphql_schema_of(s), compiled_answer(s, settings) if n == "core" else None
        )
        for n, s in schemas.items()
    }
    for sub in subgraphs.values():
        adopt_scalar_parsers(supergraph.api_schema, sub.schema)
        sub.passthrough = agrees_with_api(supergraph.api_schema, sub.schema)
    return Gateway(supergraph, subgraphs, introspection=settings.introspection)


def _type_text(t: Any) -> str:
    return str(t)


def _default_text(arg: GraphQLArgument | GraphQLInputField) -> str | None:
    """An argument's or input field's default as GraphQL text (None: no default), comparable across schemas
    built differently (SDL, Strawberry): the printed literal, not the Python value."""
    literal = get_default_value_ast(arg)
    return None if literal is None else print_ast(literal)


def _same_inputs(api: dict[str, Any], sub: dict[str, Any]) -> bool:
    """Every argument (or input field) the API declares exists in the subgraph with the same type and the
    same default: then the subgraph coerces whatever a client may send exactly as the API does."""
    for name, api_arg in api.items():
        sub_arg = sub.get(name)
        if sub_arg is None or _type_text(sub_arg.type) != _type_text(api_arg.type):
            return False
        if _default_text(api_arg) != _default_text(sub_arg):
            return False
    return True


def agrees_with_api(api: GraphQLSchema, sub: GraphQLSchema) -> bool:
    """Whether the subgraph's schema answers every operation it can fully serve exactly as the gateway
    would: each of its fields has the API's type (same nullability and list shape) and the API's arguments
    (same types, same defaults), its input types the API's fields (so variables and literals coerce alike),
    its enums the same values, its unions and interfaces the same members. Then a plan that is a single
    fetch to this in-process subgraph may run the client's document on it directly, skipping re-shaping."""
    kinds = (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType, GraphQLEnumType, GraphQLScalarType)
    for name, sub_type in sub.type_map.items():
        if name.startswith("_"):
            continue
        api_type = api.type_map.get(name)
        if api_type is None:
            continue  # hidden from the API: no validated operation can reach it
        if not any(isinstance(api_type, k) and isinstance(sub_type, k) for k in kinds) and not (
            isinstance(api_type, GraphQLInputObjectType) and isinstance(sub_type, GraphQLInputObjectType)
        ):
            return False
        if isinstance(sub_type, GraphQLObjectType | GraphQLInterfaceType):
            assert isinstance(api_type, GraphQLObjectType | GraphQLInterfaceType)
            for field_name, field in sub_type.fields.items():
                api_field = api_type.fields.get(field_name)
                if field_name.startswith("_") or api_field is None:
                    continue
                if _type_text(api_field.type) != _type_text(field.type):
                    return False
                if not _same_inputs(api_field.args, field.args):
                    return False
            if isinstance(sub_type, GraphQLInterfaceType):
                assert isinstance(api_type, GraphQLInterfaceType)
                sub_members = {t.name for t in sub.get_possible_types(sub_type)}
                if sub_members != {t.name for t in api.get_possible_types(api_type)}:
                    return False
        elif isinstance(sub_type, GraphQLInputObjectType):
            assert isinstance(api_type, GraphQLInputObjectType)
            if not _same_inputs(api_type.fields, sub_type.fields):
                return False
        elif isinstance(sub_type, GraphQLEnumType):
            assert isinstance(api_type, GraphQLEnumType)
            if set(sub_type.values) != set(api_type.values):
                return False
        elif isinstance(sub_type, GraphQLUnionType):
            assert isinstance(api_type, GraphQLUnionType)
            if {t.name for t in sub_type.types} != {t.name for t in api_type.types}:
                return False
    return True


def adopt_scalar_parsers(api_schema: GraphQLSchema, local: GraphQLSchema) -> None:
    """Give the API schema the input parsers of our own scalars (DateTime, Duration, GeoJSON…), so a bad
    literal or variable is refused at the gateway with the scalar's own code, before any subgraph call.
    Output serialisation is left alone: subgraph results are already serialised."""
    for name, local_type in local.type_map.items():
        api_type = api_schema.type_map.get(name)
        if (
            isinstance(local_type, GraphQLScalarType)
            and isinstance(api_type, GraphQLScalarType)
            and name not in specified_scalar_types
            and not name.startswith("_")
        ):
            # graphql-core 3.3 coerces through coerce_input_*; parse_* are the older names of the same
            api_type.coerce_input_value = local_type.coerce_input_value
            api_type.coerce_input_literal = local_type.coerce_input_literal
            api_type.parse_value = local_type.parse_value  # type: ignore[method-assign]
            api_type.parse_literal = local_type.parse_literal  # type: ignore[method-assign]


class GatewayEndpoint(GraphQLEndpoint):
    """Our HTTP layer (limits, caches, GraphiQL, errors) in front of the federation gateway."""

    def __init__(self, gateway: Gateway, settings: Settings, modules: Sequence[Module]) -> None:
        factories = loader_factories(modules)

        async def context(request: Request, request_id: str) -> Context:
            principal = request.scope.get("state", {}).get("principal")
            return Context.create(pool_for(request), settings, request_id, factories, principal)

        api = gateway.supergraph.api_schema
        super().__init__(api, settings, context, cost_model=cost_model_from_sdl(gateway.supergraph.sdl))
        self.gateway = gateway

    async def execute(
        self,
        document: DocumentNode,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        request_id: str,
    ) -> dict[str, Any]:
        subgraph = self._single_local_fetch(query, operation_name, request_id)
        if subgraph is not None:  # the client's document, run as is on the one subgraph that serves it
            response = await subgraph.fetch_document(
                document, query, variables or {}, operation_name, context
            )
            out: dict[str, Any] = {}
            if response.errors:
                errors = list(response.errors)
                if is_request_error({"errors": errors, "data": response.data}):
                    return {"errors": errors}  # its variables were refused: the planner's request error
                out["errors"] = [_tagged(e, subgraph.name) for e in errors]
            out["data"] = response.data
            return out
        return await self.gateway.execute(query, variables, operation_name, context)

    def _single_local_fetch(
        self, query: str, operation_name: str | None, request_id: str
    ) -> InProcessSubgraph | None:
        """The in-process subgraph that serves the whole operation in one fetch, when its schema agrees
        with the API schema; None when the operation needs the planner's executor."""
        try:
            plan = self.gateway.plan(query, operation_name)
        except Exception as exc:  # the gateway's own execute reports it to the client
            log.debug(
                "request %s: no single-subgraph plan (%r); planning through the gateway", request_id, exc
            )
            return None
        node = plan.node
        if plan.introspection is not None or not isinstance(node, FetchNode) or node.entity:
            return None
        if plan.operation.kind == "subscription":
            return None  # not as a single response: the gateway says how subscriptions are served

        subgraph = self.gateway.subgraphs.get(node.service)
        if isinstance(subgraph, InProcessSubgraph) and subgraph.passthrough:
            return subgraph
        return None


def _tagged(error: dict[str, Any], service: str) -> dict[str, Any]:
    """Name the subgraph in the error, as the planner's executor does."""
    error["extensions"] = {**(error.get("extensions") or {}), "serviceName": service}
    return error


ROUTE_CACHE_SIZE = 512


def local_subscription_router(gateway: Gateway) -> Router:
    """Subscriptions at /graphql run directly on the in-process subgraph that serves the whole operation (its
    schema agrees with the API schema, and the document validates on it), exactly as a single-fetch plan
    would; the others are planned (federation/subscriptions.py)."""
    candidates = [s for s in gateway.subgraphs.values() if isinstance(s, InProcessSubgraph) and s.passthrough]
    # by document: the endpoint's parse cache hands out one document object per query text, and validating
    # it against each subgraph was half of a subscribe's CPU (1,000 clients subscribing with one query)
    chosen: dict[int, tuple[DocumentNode, GraphQLSchema | str]] = {}

    def route(document: DocumentNode) -> GraphQLSchema | str:
        hit = chosen.get(id(document))
        if hit is not None and hit[0] is document:
            return hit[1]
        answer: GraphQLSchema | str = (
            "This subscription selects fields that no single subgraph of this server serves; subscribe to "
            "fields of one subgraph at a time"
        )
        for subgraph in candidates:
            if not validate(subgraph.schema, document):
                answer = subgraph.schema
                break
        if len(chosen) >= ROUTE_CACHE_SIZE:
            chosen.pop(next(iter(chosen)))
        chosen[id(document)] = (document, answer)  # holding the document keeps its id its own
        return answer

    return route


def gateway_routes(settings: Settings, modules: Sequence[Module]) -> tuple[list[BaseRoute], Gateway]:
    gateway = build_gateway(settings, modules)
    endpoint = GatewayEndpoint(gateway, settings, modules)
    factories = loader_factories(modules)
    # one in-process subgraph serving the whole subscription runs it directly; others are planned
    live = PlannedLiveService(
        endpoint,
        settings,
        gateway,
        lambda pool, rid: Context.create(pool, settings, rid, factories),
        local_subscription_router(gateway),
    )
    return [
        Route("/graphql", GraphQLSSE(live, settings).wrap(endpoint.handle), methods=SSE_METHODS),
        WebSocketRoute("/graphql", GraphQLWebSocket(live, settings).handle),
    ], gateway
