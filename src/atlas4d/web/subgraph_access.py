"""Who may call the subgraph routes (`/subgraphs/<name>/graphql`, and `/graphql` of `atlas4d serve --subgraph`).

Those routes serve `_service { sdl }` and `_entities`: the whole subgraph schema, `@inaccessible` parts included,
and lookups by key that skip the gateway's checks. A peer gateway needs them; the public does not (issue 12).
With `ATLAS4D_SUBGRAPH_SECRET` set, a request must carry it in `X-Atlas4D-Subgraph-Secret` (compared in constant
time), else 403 `FORBIDDEN`; our gateway sends it to the remote subgraphs it calls. Production mode without a
secret does not mount the routes at all (`ATLAS4D_SUBGRAPH_ROUTES`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.middleware import Middleware

from atlas4d.auth.errors import Forbidden
from atlas4d.web.middleware import ASGIApp, ErrorBody, Receive, Scope, Send, graphql_error_body

HEADER = "x-atlas4d-subgraph-secret"


def subgraph_access(secret: str, guarded: Callable[[str], bool]) -> Middleware:
    return Middleware(SubgraphAccess, secret=secret, guarded=guarded)


def is_subgraph_path(path: str) -> bool:
    return path.startswith("/subgraphs/")


class SubgraphAccess:
    def __init__(
        self,
        app: ASGIApp,
        secret: str,
        guarded: Callable[[str], bool] = is_subgraph_path,
        error_body: ErrorBody = graphql_error_body,
    ) -> None:
        self.app = app
        self.secret = secret.encode()
        self.guarded = guarded
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.guarded(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == HEADER.encode()), b"")
        if hmac.compare_digest(given, self.secret):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403})
            return
        error = Forbidden(f"this route needs the subgraph secret in the {HEADER} header")
        status, body = self.error_body(scope.get("path", ""), error)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
