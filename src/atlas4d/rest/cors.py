"""CORS of the REST face when `ATLAS4D_CORS_ORIGINS` is unset: every origin, as the original Atlas4D allowed.

The original gateway answered every origin on its REST API (FastAPI's CORSMiddleware with `*`), and browser
apps built for it (its map frontend served from another host or port) depend on that. So with no app-wide
setting, the REST paths (`/health`, `/api/…`, `/openapi.json`, `/docs`) get `web.cors.CORS` with `*`, and
every other path (GraphQL, subgraphs, bulk ingest) stays same-origin. Under `*` no credentials are allowed
(cookies or browser-sent auth), unlike the original's `allow_credentials=True`: a deliberate difference that
docs/core-spec-compat.md lists. When `ATLAS4D_CORS_ORIGINS` is set, it applies to the whole app, REST included.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from atlas4d.web.cors import CORS

REST_PATHS = ("/health", "/api/", "/openapi.json", "/docs")


def is_rest_path(path: str) -> bool:
    return path == "/health" or path.startswith(REST_PATHS[1:])


class RestCORS:
    """`CORS(origins=["*"])` on the REST paths, the app untouched elsewhere."""

    def __init__(self, app: ASGIApp, max_age: int = 600) -> None:
        self.app = app
        self.cors = CORS(app, origins=["*"], max_age=max_age)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_rest_path(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def rest_cors_middleware(max_age: int) -> list[Middleware]:
    return [Middleware(RestCORS, max_age=max_age)]
