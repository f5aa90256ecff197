"""The gateway's HTTP face: a Starlette app with `/graphql` (POST and GET, GraphiQL for browsers) and `/health`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from atlas4d.federation.gateway import Gateway

GRAPHIQL_HTML = """<!doctype html>
<html><head><title>Atlas4D GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css" /></head>
<body style="margin:0"><div id="graphiql" style="height:100vh"></div>
<script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
<script>
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher: GraphiQL.createFetcher({ url: window.location.href }) }));
</script></body></html>"""


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class GatewayHolder:
    """Holds the gateway once a supergraph is loaded; `/health` is 503 until then."""

    def __init__(self, gateway: Gateway | None = None) -> None:
        self.gateway = gateway


def _bad_request(message: str) -> Response:
    return ORJSONResponse({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}, 400)


def create_app(
    gateway: Gateway | None = None,
    *,
    loader: Callable[[], Gateway] | None = None,
    graphiql: bool = True,
    context_factory: Callable[[Request], Any] | None = None,
) -> Starlette:
    """A Starlette app serving `gateway` (or the one `loader` builds at startup)."""
    holder = GatewayHolder(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if holder.gateway is None and loader is not None:
            holder.gateway = loader()
        try:
            yield
        finally:
            if holder.gateway is not None:
                await holder.gateway.aclose()

    async def health(request: Request) -> Response:
        if holder.gateway is None:
            return ORJSONResponse({"status": "no supergraph loaded"}, 503)
        return ORJSONResponse({"status": "ok", "subgraphs": sorted(holder.gateway.subgraphs)})

    async def graphql_endpoint(request: Request) -> Response:
        if holder.gateway is None:
            return ORJSONResponse({"errors": [{"message": "No supergraph loaded."}]}, 503)
        if request.method == "GET":
            if (
                graphiql
                and "text/html" in request.headers.get("accept", "")
                and "query" not in request.query_params
            ):
                return HTMLResponse(GRAPHIQL_HTML)
            params: dict[str, Any] = dict(request.query_params)
            if "variables" in params:
                try:
                    params["variables"] = orjson.loads(params["variables"])
                except orjson.JSONDecodeError:
                    return _bad_request("variables must be JSON")
        else:
            try:
                params = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return _bad_request("body must be JSON")
        if not isinstance(params, dict) or not isinstance(params.get("query"), str):
            return _bad_request("a query string is required")
        variables = params.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return _bad_request("variables must be an object")
        operation_name = params.get("operationName")
        context = context_factory(request) if context_factory else {"request": request}
        result = await holder.gateway.execute(
            params["query"],
            variables,
            operation_name if isinstance(operation_name, str) else None,
            context,
            allow_mutations=request.method == "POST",
        )
        status = 200 if "data" in result else 400
        return ORJSONResponse(result, status)

    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway_holder = holder
    return app
