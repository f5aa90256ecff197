"""The platform's own supergraph: core plus the enabled modules, composed in-process and served by our
gateway at /graphql, with every local subgraph executed in this process (no HTTP hop).

All local subgraphs of one request share one `Context`, so core's DataLoaders batch across subgraphs too.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLScalarType,
    GraphQLSchema,
    execute,
    specified_scalar_types,
)
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.subgraph import subgraph_sdl
from atlas4d.federation.supergraph import Supergraph
from atlas4d.federation.transport import JSON, SubgraphResponse
from atlas4d.modules.contract import Module
from atlas4d.modules.serving import graphql_schema_of, loader_factories
from atlas4d.settings import Settings
from atlas4d.web.errors import format_graphql_error
from atlas4d.web.fast_executor import FastExecutor
from atlas4d.web.graphql_http import GraphQLEndpoint

DEFAULT_BASE_URL = "http://127.0.0.1:4000"


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


@dataclass
class InProcessSubgraph:
    """A local subgraph executed on its graphql-core schema with the request's shared `Context`; its errors
    are formatted by our one error formatter, so internals are masked exactly as on /subgraphs/NAME."""

    name: str
    schema: GraphQLSchema
    requests: int = 0

    async def fetch(
        self, document: DocumentNode, text: str, variables: JSON, operation_name: str | None, context: Any
    ) -> SubgraphResponse:
        self.requests += 1
        result = execute(
            self.schema,
            document,
            variable_values=variables,
            context_value=context,
            executor_class=FastExecutor,
        )
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        request_id = getattr(context, "request_id", "-")
        return SubgraphResponse(
            result.data, [format_graphql_error(e, request_id) for e in result.errors or ()]
        )


def build_gateway(settings: Settings, modules: Sequence[Module]) -> Gateway:
    schemas = local_schemas(modules)
    supergraph = Supergraph.parse(compose_schemas(schemas))
    subgraphs = {n: InProcessSubgraph(n, graphql_schema_of(s)) for n, s in schemas.items()}
    for sub in subgraphs.values():
        adopt_scalar_parsers(supergraph.api_schema, sub.schema)
    return Gateway(supergraph, subgraphs, introspection=settings.introspection)


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
            api_type.parse_value = local_type.parse_value  # type: ignore[method-assign]
            api_type.parse_literal = local_type.parse_literal  # type: ignore[method-assign]


class GatewayEndpoint(GraphQLEndpoint):
    """Our HTTP layer (limits, caches, GraphiQL, errors) in front of the federation gateway."""

    def __init__(self, gateway: Gateway, settings: Settings, modules: Sequence[Module]) -> None:
        factories = loader_factories(modules)

        async def context(request: Request, request_id: str) -> Context:
            return Context.create(request.app.state.pool, settings, request_id, factories)

        super().__init__(gateway.supergraph.api_schema, settings, context)
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
        return await self.gateway.execute(query, variables, operation_name, context)


def gateway_routes(settings: Settings, modules: Sequence[Module]) -> tuple[list[BaseRoute], Gateway]:
    gateway = build_gateway(settings, modules)
    endpoint = GatewayEndpoint(gateway, settings, modules)
    return [Route("/graphql", endpoint.handle, methods=["GET", "POST"])], gateway
