"""Routes serving the core subgraph over HTTP and WebSocket (at /graphql when served alone, and at
/subgraphs/core/graphql)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Route, WebSocketRoute

from atlas4d.core.compiled import compiled_answer
from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.modules.contract import Module
from atlas4d.modules.serving import graphql_schema_of, loader_factories, subgraph_endpoint
from atlas4d.settings import Settings
from atlas4d.streaming.service import LiveService
from atlas4d.streaming.sse import METHODS, GraphQLSSE
from atlas4d.streaming.ws import GraphQLWebSocket

PATH = "/subgraphs/core/graphql"


def graphql_routes(settings: Settings, modules: Sequence[Module] = ()) -> list[BaseRoute]:
    core = build_core_schema()
    schema = graphql_schema_of(core)
    factories = loader_factories(modules)
    endpoint = subgraph_endpoint(schema, settings, factories, compiled_answer(core, settings))
    live = LiveService(endpoint, settings, lambda pool, rid: Context.create(pool, settings, rid, factories))
    websocket = GraphQLWebSocket(live, settings)
    http = GraphQLSSE(live, settings).wrap(
        endpoint.handle
    )  # event streams (Accept: text/event-stream) or HTTP
    return [
        Route("/graphql", http, methods=METHODS),
        WebSocketRoute("/graphql", websocket.handle),
        Route(PATH, http, methods=METHODS),
        WebSocketRoute(PATH, websocket.handle),
    ]
