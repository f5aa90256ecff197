"""Helpers for the security tests (tests/auth): apps built with security settings, signed tokens, and a real local HTTP
server that serves JWKS and OIDC discovery documents (keys can be swapped while it runs: rotation)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette

from atlas4d.app import create_app
from atlas4d.settings import Settings

SECRET = "test-secret-that-is-long-enough-for-hs256!"


class KeyServer:
    """JWKS at /jwks.json and OIDC discovery at /.well-known/openid-configuration, on 127.0.0.1."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                doc = outer.documents.get(self.path)
                body = json.dumps(doc).encode() if doc is not None else b"{}"
                self.send_response(200 if doc is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, *keys: tuple[str, Any]) -> None:
        jwks = []
        for kid, private in keys:
            jwk = json.loads(
                jwt.algorithms.get_default_algorithms()[_alg(private)].to_jwk(private.public_key())
            )
            jwk.update({"kid": kid, "use": "sig", "alg": _alg(private)})
            jwks.append(jwk)
        self.documents["/jwks.json"] = {"keys": jwks}
        self.documents["/.well-known/openid-configuration"] = {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks.json",
        }


def _alg(private: Any) -> str:
    return "ES256" if isinstance(private, ec.EllipticCurvePrivateKey) else "RS256"


def token(key: Any = SECRET, *, kid: str | None = None, ttl: float = 300, **claims: Any) -> str:
    now = time.time()
    body: dict[str, Any] = {"sub": "user-1", "iat": int(now), "exp": int(now + ttl), **claims}
    body = {k: v for k, v in body.items() if v is not None}
    alg = "HS256" if isinstance(key, str) else _alg(key)
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


def bearer(tok: str) -> dict[str, str]:
    return {"authorization": f"Bearer {tok}"}


@asynccontextmanager
async def serve(settings: Settings, database_url: str, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An app with these settings changed, and a client on it (real ASGI, real PostGIS)."""
    app: Starlette = create_app(settings.model_copy(update=changes), dsn=database_url, modules=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


QUERY = "{ entities(first: 1) { nodes { id } } }"


async def gql(
    client: httpx.AsyncClient, query: str = QUERY, variables: Any = None, **headers: str
) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
