"""The gateway's HTTP face for any supergraph (`atlas4d gateway`): `/graphql` and `/health`; subscriptions on
`/graphql` over graphql-transport-ws and SSE (atlas4d.streaming's faces, planned by federation/subscriptions.py).

It is our one GraphQL-over-HTTP layer (`atlas4d.web.graphql_http`: GET/POST, GraphiQL, body/depth/alias/token
limits, JSON-only POST against CSRF, masked errors, cached validation) with execution handed to the planner.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

from graphql import DocumentNode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from atlas4d.federation.gateway import Gateway
from atlas4d.federation.subscriptions import PlannedLiveService
from atlas4d.settings import Settings
from atlas4d.streaming.sse import METHODS as SSE_METHODS
from atlas4d.streaming.sse import GraphQLSSE
from atlas4d.streaming.ws import GraphQLWebSocket
from atlas4d.web.cors import cors_middleware
from atlas4d.web.cost_model import cost_model_from_sdl
from atlas4d.web.graphiql import graphiql_routes
from atlas4d.web.graphql_http import GraphQLEndpoint, JSONResponse
from atlas4d.web.middleware import request_limits


class SupergraphEndpoint(GraphQLEndpoint):
    """GraphQL over HTTP in front of a gateway: validated on the API schema, executed by the planner."""

    def __init__(
        self, gateway: Gateway, settings: Settings, context_factory: Callable[[Request], Any] | None
    ) -> None:
        async def context(request: Request, request_id: str) -> Any:
            if context_factory is not None:
                return context_factory(request)
            return {"request": request, "request_id": request_id}

        super().__init__(
            gateway.supergraph.api_schema,
            settings.model_copy(update={"introspection": gateway.introspection}),
            context,
            cost_model=cost_model_from_sdl(gateway.supergraph.sdl),
        )
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


class GatewayHolder:
    """Holds the gateway once a supergraph is loaded; `/health` is 503 until then."""

    def __init__(self, gateway: Gateway | None = None) -> None:
        self.gateway = gateway
        self.endpoint: SupergraphEndpoint | None = None
        self.live: PlannedLiveService | None = None  # subscriptions (federation/subscriptions.py)
        self.sse: GraphQLSSE | None = None
        self.websocket: GraphQLWebSocket | None = None


def create_app(
    gateway: Gateway | None = None,
    *,
    loader: Callable[[], Gateway] | None = None,
    graphiql: bool | None = None,
    context_factory: Callable[[Request], Any] | None = None,
    settings: Settings | None = None,
) -> Starlette:
    """A Starlette app serving `gateway` (or the one `loader` builds at startup)."""
    from atlas4d.auth.http import security_middleware
    from atlas4d.observe.metrics import metrics_endpoint
    from atlas4d.observe.setup import observability_middleware, setup_observability

    holder = GatewayHolder(gateway)
    http_settings = settings or Settings()
    if graphiql is not None:
        http_settings = http_settings.model_copy(update={"graphiql": graphiql})
    setup_observability(http_settings)
    security, limiter = security_middleware(http_settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if holder.gateway is None and loader is not None:
            holder.gateway = loader()
        if holder.gateway is not None:
            holder.endpoint = SupergraphEndpoint(holder.gateway, http_settings, context_factory)
            holder.live = PlannedLiveService(
                holder.endpoint,
                http_settings,
                holder.gateway,
                lambda _pool, request_id: {"request_id": request_id},
            )
            holder.sse = GraphQLSSE(holder.live, http_settings)
            holder.websocket = GraphQLWebSocket(holder.live, http_settings)
        # What start-up built (schemas, query graph, modules) lives as long as the process: moved out of the
        # collector's way, so the full collections that per-request garbage triggers do not walk it each time.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if holder.live is not None:
                await holder.live.aclose()
            if holder.gateway is not None:
                await holder.gateway.aclose()
            await limiter.aclose()

    async def health(request: Request) -> Response:
        if holder.gateway is None:
            return JSONResponse({"status": "no supergraph loaded"}, status_code=503)
        return JSONResponse({"status": "ok", "subgraphs": sorted(holder.gateway.subgraphs)})

    async def ready(request: Request) -> Response:
        from atlas4d.observe.ready import ready_response, supergraph_check

        return ready_response({"supergraph": supergraph_check(holder.gateway)})

    async def graphql_endpoint(request: Request) -> Response:
        if holder.endpoint is None:
            return JSONResponse(
                {
                    "errors": [
                        {"message": "No supergraph loaded.", "extensions": {"code": "SUBGRAPH_UNAVAILABLE"}}
                    ]
                },
                status_code=503,
            )
        if holder.sse is not None and holder.sse.claims(request):  # SSE, both modes
            return await holder.sse.dispatch(request)
        return await holder.endpoint.handle(request)

    async def graphql_websocket(websocket: WebSocket) -> None:
        if holder.websocket is None:
            await websocket.close(1013, "No supergraph loaded")
            return
        await holder.websocket.handle(websocket)

    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=SSE_METHODS),
            WebSocketRoute("/graphql", graphql_websocket),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            *([Route("/metrics", metrics_endpoint, methods=["GET"])] if http_settings.metrics else []),
            *graphiql_routes(),
        ],
        lifespan=lifespan,
        middleware=[
            *observability_middleware(),
            *cors_middleware(http_settings.cors_origins, http_settings.cors_max_age),
            request_limits(http_settings),  # request id, body timeout, deadline (docs/security.md)
            security,  # credentials -> Principal, permissions, rate limits, tenant (atlas4d.auth)
        ],
    )
    app.state.gateway_holder = holder
    return app
