"""`@authenticated`, `@requiresScopes` and `@policy` in a supergraph composed by @apollo/composition, enforced
by our gateway (`atlas4d gateway`'s app) with Apollo Router's semantics; and the client's credentials
forwarded to a remote subgraph (a real HTTP server that echoes the header it got)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from auth_helpers import SECRET, bearer, token
from strawberry.federation.schema_directives import Authenticated, Policy, RequiresScopes

from atlas4d.federation.app import create_app
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.subgraph import subgraph_sdl
from atlas4d.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "federation"))
from fed_servers import node_json

pytestmark = pytest.mark.npm

ECHO_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
type Query { whoami: String }
"""


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    name: str
    email: str | None = strawberry.federation.field(directives=[RequiresScopes(scopes=[["read:email"]])])


@strawberry.type
class Query:
    @strawberry.field
    def public(self) -> str:
        return "hello"

    @strawberry.field(directives=[Authenticated()])
    def me(self) -> User | None:
        return User(id=strawberry.ID("1"), name="Ann", email="ann@example.org")

    @strawberry.field(directives=[Policy(policies=[["fleet-ops"]])])
    def fleet(self) -> str | None:
        return "12 vehicles"


class EchoSubgraph:
    """A remote subgraph over real HTTP: `whoami` answers the Authorization header it received."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                body = json.dumps({"data": {"whoami": self.headers.get("authorization")}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/graphql"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoSubgraph]:
    server = EchoSubgraph()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def accounts() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(query=Query, types=[User])


@pytest.fixture(scope="module")
def supergraph(accounts: strawberry.federation.Schema, echo: EchoSubgraph) -> str:
    composed = node_json(
        "compose.js",
        [
            {"name": "accounts", "url": "http://127.0.0.1:1/graphql", "sdl": subgraph_sdl(accounts)},
            {"name": "echo", "url": echo.url, "sdl": ECHO_SDL},
        ],
    )
    assert "supergraphSdl" in composed, composed
    sdl = str(composed["supergraphSdl"])
    assert "@authenticated" in sdl and "@requiresScopes" in sdl and "@policy" in sdl
    return sdl


@pytest.fixture
async def client(
    supergraph: str, accounts: strawberry.federation.Schema, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    policy = tmp_path / "policy.yaml"
    policy.write_text("roles: {reader: [read], ops: [read]}\npolicies: {fleet-ops: [ops]}\n")
    settings = Settings(gc_freeze=False, jwt_secret=SECRET, policy_file=policy, anonymous_role="reader")
    gateway = Gateway.from_supergraph(supergraph, local={"accounts": accounts})
    app = create_app(gateway, settings=settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as c,
    ):
        yield c


async def ask(client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = await client.post("/graphql", json={"query": query}, headers=headers or {})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_authenticated_fields_are_null_for_anonymous(client: httpx.AsyncClient) -> None:
    body = await ask(client, "{ public me { name } }")
    assert body["data"] == {"public": "hello", "me": None}
    assert body["errors"] == [
        {
            "message": "Unauthorized field or type",
            "path": ["me"],
            "extensions": {"code": "UNAUTHORIZED_FIELD_OR_TYPE"},
        }
    ]
    body = await ask(client, "{ public me { name } }", bearer(token(roles=["reader"])))
    assert body == {"data": {"public": "hello", "me": {"name": "Ann"}}}


async def test_requires_scopes(client: httpx.AsyncClient) -> None:
    query = "{ me { name email } }"
    body = await ask(client, query, bearer(token(roles=["reader"], scope="profile")))
    assert body["data"] == {"me": {"name": "Ann", "email": None}}
    assert body["errors"][0]["path"] == ["me", "email"]
    body = await ask(client, query, bearer(token(roles=["reader"], scope="profile read:email")))
    assert body == {"data": {"me": {"name": "Ann", "email": "ann@example.org"}}}


async def test_policy_names_resolve_through_the_policy_file(client: httpx.AsyncClient) -> None:
    body = await ask(client, "{ public fleet }", bearer(token(roles=["reader"])))
    assert body["data"] == {"public": "hello", "fleet": None}
    body = await ask(client, "{ public fleet }", bearer(token(roles=["ops"])))
    assert body == {"data": {"public": "hello", "fleet": "12 vehicles"}}


async def test_credentials_are_forwarded_to_remote_subgraphs(client: httpx.AsyncClient) -> None:
    tok = token(roles=["reader"])
    body = await ask(client, "{ whoami }", bearer(tok))
    assert body == {"data": {"whoami": f"Bearer {tok}"}}
    body = await ask(client, "{ whoami }")
    assert body == {"data": {"whoami": None}}  # nothing to forward
