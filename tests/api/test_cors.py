"""CORS on every face of the app (GraphQL, subgraphs, Core Spec REST, bulk ingest, `atlas4d gateway`):
preflights answer 204 with the headers browsers' GraphQL clients send, exact origins get credentials,
patterns and `*` do not, unknown origins get no CORS headers, and nothing is sent when none is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from atlas4d.app import create_app
from atlas4d.federation.app import create_app as create_gateway_app
from atlas4d.settings import Settings

ORIGINS = ["https://map.example", "https://*.apps.example", "http://localhost:*"]
CLIENT_HEADERS = (
    "content-type, apollographql-client-name, apollographql-client-version, authorization, x-request-id"
)
PATHS = [
    "/graphql",
    "/subgraphs/core/graphql",
    "/api/stats",
    "/api/observations",
    "/health",
    "/ingest/observations",
]


@asynccontextmanager
async def app_client(database_url: str, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=None, gc_freeze=False, **changes)
    app = create_app(settings, dsn=database_url, modules=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def preflight(origin: str, method: str = "POST", headers: str = CLIENT_HEADERS) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


@pytest.fixture(scope="module")
async def cors_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(database_url, cors_origins=ORIGINS) as client:
        yield client


@pytest.mark.parametrize("path", PATHS)
async def test_preflight_from_a_listed_origin(cors_client: httpx.AsyncClient, path: str) -> None:
    r = await cors_client.options(path, headers=preflight("https://map.example"))
    assert r.status_code == 204 and r.content == b""
    assert r.headers["access-control-allow-origin"] == "https://map.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {h.strip() for h in CLIENT_HEADERS.split(",")} <= allowed
    assert {"GET", "POST"} <= {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert r.headers["access-control-max-age"] == "600"
    assert "origin" in r.headers["vary"].lower()


@pytest.mark.parametrize(
    ("origin", "matches"),
    [("https://team.apps.example", True), ("https://a.b.apps.example", True), ("http://localhost:5173", True),
     ("https://apps.example", False), ("https://team.apps.example.evil.com", False),
     ("https://evil.example", False), ("http://map.example", False), ("null", False)],
)  # fmt: skip
async def test_patterns_allow_reading_but_never_credentials(
    cors_client: httpx.AsyncClient, origin: str, matches: bool
) -> None:
    pre = await cors_client.options("/graphql", headers=preflight(origin))
    post = await cors_client.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": origin})
    assert post.status_code == 200  # CORS is the browser's to enforce; the server answers, marked or not
    for r in (pre, post):
        assert "access-control-allow-credentials" not in r.headers
        assert r.headers.get("access-control-allow-origin") == (origin if matches else None)
    assert pre.status_code == (204 if matches else 400)


async def test_simple_request_from_a_listed_origin(cors_client: httpx.AsyncClient) -> None:
    r = await cors_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://map.example"}
    )
    assert r.json() == {"data": {"__typename": "Query"}}
    assert r.headers["access-control-allow-origin"] == "https://map.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["access-control-expose-headers"].lower() == "x-request-id"
    assert "origin" in r.headers["vary"].lower()
    rest = await cors_client.get("/api/stats", headers={"origin": "https://map.example"})
    assert rest.headers["access-control-allow-origin"] == "https://map.example"


async def test_unasked_headers_and_methods_are_refused(cors_client: httpx.AsyncClient) -> None:
    header = await cors_client.options(
        "/graphql", headers=preflight("https://map.example", headers="x-secret")
    )
    method = await cors_client.options("/graphql", headers=preflight("https://map.example", method="PATCH"))
    assert header.status_code == method.status_code == 400


async def test_any_origin_without_credentials(database_url: str) -> None:
    async with app_client(database_url, cors_origins=["*"]) as client:
        pre = await client.options("/api/observations", headers=preflight("https://anywhere.example", "GET"))
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] in ("*", "https://anywhere.example")
        assert "access-control-allow-credentials" not in pre.headers
        get = await client.get("/health", headers={"origin": "https://anywhere.example"})
        assert get.headers["access-control-allow-origin"] in ("*", "https://anywhere.example")
        assert "access-control-allow-credentials" not in get.headers


async def test_no_cors_unless_configured(client: httpx.AsyncClient) -> None:
    """The default: same-origin only. No CORS header, and a preflight is not answered as one."""
    pre = await client.options("/graphql", headers=preflight("https://map.example"))
    assert pre.status_code == 405 and "access-control-allow-origin" not in pre.headers
    post = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://map.example"}
    )
    assert post.status_code == 200 and not [h for h in post.headers if h.startswith("access-control-")]


def test_the_origins_setting_reads_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS4D_CORS_ORIGINS", "https://map.example, https://*.apps.example ,")
    assert Settings().cors_origins == ["https://map.example", "https://*.apps.example"]


async def test_the_standalone_gateway_answers_preflights() -> None:
    make: Callable[..., Any] = create_gateway_app
    app = make(None, settings=Settings(database_url=None, cors_origins=["https://map.example"]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        r = await client.options("/graphql", headers=preflight("https://map.example"))
        assert r.status_code == 204 and r.headers["access-control-allow-credentials"] == "true"
