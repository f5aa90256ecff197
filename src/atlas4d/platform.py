"""The platform's own supergraph: core plus the enabled modules, composed in-process and served by our
gateway at /graphql, with every local subgraph executed in this process (no HTTP hop).

All local subgraphs of one request share one `Context`, so core's DataLoaders batch across subgraphs too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from graphql import DocumentNode
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.subgraph import subgraph_sdl
from atlas4d.modules.contract import Module
from atlas4d.modules.serving import graphql_schema_of, loader_factories
from atlas4d.settings import Settings
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


def build_gateway(settings: Settings, modules: Sequence[Module]) -> Gateway:
    schemas = local_schemas(modules)
    share: Callable[[Any], Any] = lambda ctx: ctx  # noqa: E731 - one request context for every local subgraph
    return Gateway.from_supergraph(
        compose_schemas(schemas),
        local={n: graphql_schema_of(s) for n, s in schemas.items()},
        context_factories={n: share for n in schemas},
        introspection=settings.introspection,
    )


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
