"""Serving a module's subgraph alone at /subgraphs/<name>/graphql, with the shared request context."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
from graphql import GraphQLSchema
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from atlas4d.core.context import Context
from atlas4d.db.replicas import pool_for
from atlas4d.federation.subgraph import subgraph_sdl
from atlas4d.modules.contract import Module
from atlas4d.modules.representations import check_representations
from atlas4d.settings import Settings
from atlas4d.web.cost_model import cost_model_from_sdl
from atlas4d.web.graphql_http import FastAnswer, GraphQLEndpoint


def loader_factories(modules: Sequence[Module]) -> dict[str, Callable[[asyncpg.Pool], Any]]:
    return {m.name: m.loaders for m in modules if m.loaders is not None}


def graphql_schema_of(strawberry_schema: Any) -> GraphQLSchema:
    schema = strawberry_schema._schema
    assert isinstance(schema, GraphQLSchema)
    return schema


def subgraph_endpoint(
    schema: GraphQLSchema,
    settings: Settings,
    factories: Mapping[str, Callable[[asyncpg.Pool], Any]],
    fast_answer: FastAnswer | None = None,
) -> GraphQLEndpoint:
    async def context(request: Request, request_id: str) -> Context:
        principal = request.scope.get("state", {}).get("principal")
        return Context.create(pool_for(request), settings, request_id, factories, principal)

    check_representations(schema)  # the caller's malformed representations are its error, not INTERNAL
    return GraphQLEndpoint(
        schema,
        settings,
        context,
        fast_answer,
        public=False,
        cost_model=cost_model_from_sdl(subgraph_sdl(schema)),
    )


def subgraph_route(
    name: str,
    schema: GraphQLSchema,
    settings: Settings,
    factories: Mapping[str, Callable[[asyncpg.Pool], Any]],
    fast_answer: FastAnswer | None = None,
) -> BaseRoute:
    endpoint = subgraph_endpoint(schema, settings, factories, fast_answer)
    return Route(f"/subgraphs/{name}/graphql", endpoint.handle, methods=["GET", "POST"])


def module_routes(modules: Sequence[Module], settings: Settings) -> list[BaseRoute]:
    factories = loader_factories(modules)
    return [subgraph_route(m.name, graphql_schema_of(m.subgraph()), settings, factories) for m in modules]
