"""Routes serving the core subgraph over HTTP (at /graphql until the gateway takes over, and at
/subgraphs/core/graphql)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Route

from atlas4d.core.compiled import compiled_answer
from atlas4d.core.schema import build_core_schema
from atlas4d.modules.contract import Module
from atlas4d.modules.serving import graphql_schema_of, loader_factories, subgraph_route
from atlas4d.settings import Settings


def graphql_routes(settings: Settings, modules: Sequence[Module] = ()) -> list[BaseRoute]:
    core = build_core_schema()
    schema = graphql_schema_of(core)
    route = subgraph_route(
        "core", schema, settings, loader_factories(modules), compiled_answer(core, settings)
    )
    assert isinstance(route, Route)
    return [Route("/graphql", route.endpoint, methods=["GET", "POST"]), route]
