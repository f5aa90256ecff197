"""Routes serving the core subgraph over HTTP (at /graphql until the gateway takes over, and at
/subgraphs/core/graphql)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.settings import Settings
from atlas4d.web.graphql_http import GraphQLEndpoint


def graphql_routes(settings: Settings) -> list[BaseRoute]:
    schema = build_core_schema()

    async def context(request: Request, request_id: str) -> Context:
        return Context.create(request.app.state.pool, settings, request_id)

    endpoint = GraphQLEndpoint(schema._schema, settings, context)
    return [
        Route("/graphql", endpoint.handle, methods=["GET", "POST"]),
        Route("/subgraphs/core/graphql", endpoint.handle, methods=["GET", "POST"]),
    ]
