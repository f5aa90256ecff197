"""Issue 12's nine reproductions, each against a whole app (core + every installed module) through ASGI, with
development and production settings (`ATLAS4D_ENV=production`; its anonymous role is `admin` here so the other
limits are reached — `test_production_needs_a_token_for_every_read_and_write` drops it). Refusals are typed and
happen before any SQL (statements counted at the driver). tests/security/test_refusals.py has more cases of 1, 2
and 7; test_request_limits.py the deadline and the body timeout."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from atlas4d.app import create_app
from atlas4d.db.pool import log_statements
from atlas4d.modules.contract import Module
from atlas4d.modules.registry import discover
from atlas4d.settings import Settings
from atlas4d.web.byte_cache import ByteLRU
from atlas4d.web.subgraph_access import HEADER
from live_server import ROOT, gateway

ENVS = ["development", "production"]
GRAPHQL_RESPONSE = {"accept": "application/graphql-response+json", "content-type": "application/json"}
SUBGRAPH = "/subgraphs/core/graphql"
INTERNAL_TEXT = ("Traceback", "asyncpg", "postgres", "SELECT ", "Exception", "json.exception", 'File "')


def installed_modules() -> list[Module]:
    return [d.module for d in discover().values()]


def settings_for(env: str, **changes: Any) -> Settings:
    base: dict[str, Any] = {"database_url": None, "gc_freeze": False, "pool_min_size": 1, "pool_max_size": 4}
    if env == "production":
        base.update(env="production", anonymous_role="admin")
    return Settings(**{**base, **changes})


@asynccontextmanager
async def app_client(
    settings: Settings, database_url: str, modules: list[Module] | None = None, **headers: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, dsn=database_url, modules=modules or [])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers
        ) as client,
    ):
        yield client


@pytest.fixture(scope="module", params=ENVS)
async def env_client(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A whole app in one environment; in production the subgraph routes are behind a secret."""
    env = request.param
    extra = {"subgraph_secret": "s3cret"} if env == "production" else {}
    headers = {HEADER: "s3cret"} if env == "production" else {}
    async with app_client(settings_for(env, **extra), database_url, installed_modules(), **headers) as client:
        client.env = env  # type: ignore[attr-defined]
        yield client


async def refused(
    client: httpx.AsyncClient, path: str, body: dict[str, Any] | bytes, code: str, status: int = 400
) -> dict[str, Any]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with log_statements() as log:
        response = await client.post(path, content=content, headers=GRAPHQL_RESPONSE)
    assert response.status_code == status, response.text[:500]
    error: dict[str, Any] = response.json()["errors"][0]
    assert error["extensions"]["code"] == code, error
    assert log.statements == [], log.statements
    return error


def no_internals(text: str) -> None:
    for word in INTERNAL_TEXT:
        assert word not in text, (word, text[:500])


# 1. fragment bomb ------------------------------------------------------------------------------------------
async def test_1_fragment_bomb(env_client: httpx.AsyncClient) -> None:
    fragments = ["fragment F0 on Query { __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 21)
    ]
    query = "query Q { ...F20 } " + " ".join(fragments)
    for path in ("/graphql", SUBGRAPH):
        await refused(env_client, path, {"query": query}, "QUERY_TOO_COMPLEX")


# 2. nested lists -------------------------------------------------------------------------------------------
async def test_2_nested_lists(env_client: httpx.AsyncClient) -> None:
    query = "{ observations(first: 10000) { nodes { entity { observations(first: 10000) { id } } } } }"
    for path in ("/graphql", SUBGRAPH):
        error = await refused(env_client, path, {"query": query}, "QUERY_TOO_COMPLEX")
        assert error["extensions"]["cost"] == 100_020_001


# 3. the parse cache is bounded in bytes --------------------------------------------------------------------
async def test_3_big_documents_are_refused_and_the_caches_bounded_in_bytes(
    env_client: httpx.AsyncClient, database_url: str
) -> None:
    """40 distinct 5 MB documents (a long comment is few tokens) kept +600 MB, and each took ~0.6 CPU-s to
    parse: refused unparsed now (ATLAS4D_MAX_QUERY_BYTES). Below that limit, 30 distinct 100 kB documents
    go through caches of 1 MiB each, which keep no more than that."""
    for i in range(40 if env_client.env == "development" else 2):  # type: ignore[attr-defined]
        query = f"# {i} " + "x" * 5_000_000 + "\n{ __typename }"
        error = await refused(
            env_client, "/graphql" if i % 2 else SUBGRAPH, {"query": query}, "REQUEST_TOO_LARGE"
        )
        assert error["extensions"]["maximum"] == 256 * 1024
    gc.collect()
    earlier = {id(c) for c in gc.get_objects() if isinstance(c, ByteLRU)}  # other apps' caches (other tests)
    async with app_client(settings_for("development", cache_bytes=1024 * 1024), database_url) as client:
        for i in range(30):
            query = f"# {i} " + "x" * 100_000 + "\n{ __typename }"
            for path in ("/graphql", SUBGRAPH):
                r = await client.post(path, json={"query": query})
                assert r.json() == {"data": {"__typename": "Query"}}
        caches = [
            c
            for c in gc.get_objects()
            if isinstance(c, ByteLRU) and c.budget == 1024 * 1024 and id(c) not in earlier
        ]
        assert len(caches) >= 3  # documents of /graphql and of the subgraph, plans, decisions
        assert all(0 < c.bytes <= c.budget for c in caches if len(c)), [(len(c), c.bytes) for c in caches]
        texts = sum(len(k) for c in caches for k in c._entries if isinstance(k, str))
        assert texts < 2 * 1024 * 1024, texts  # of the 6 MB sent


# 4. authentication: a production deployment needs a token for every read and write -----------------------
async def test_production_needs_a_token_for_every_read_and_write(database_url: str) -> None:
    settings = Settings(database_url=None, gc_freeze=False, env="production", subgraph_secret="s")
    async with app_client(settings, database_url, installed_modules()) as client:
        with log_statements() as log:
            answers = [
                await client.post("/graphql", json={"query": "{ entities { nodes { id } } }"}),
                await client.get("/graphql", params={"query": "{ __typename }"}),
                await client.post(
                    "/graphql",
                    json={"query": 'mutation { createEntities(entities: [{kind: "x"}]) { id } }'},
                ),
                await client.post(SUBGRAPH, json={"query": "{ _service { sdl } }"}, headers={HEADER: "s"}),
                await client.post(
                    "/subgraphs/mobility/graphql",
                    json={"query": "{ vehicles { id } }"},
                    headers={HEADER: "s"},
                ),
                await client.get("/api/observations"),
                await client.get("/api/stats"),
                await client.post("/api/observations", json={"lat": 1, "lon": 2}),
                await client.post(
                    "/ingest/observations",
                    content=b'{"time": "2026-01-01T00:00:00Z", "lon": 1, "lat": 1}\n',
                    headers={"content-type": "application/x-ndjson"},
                ),
            ]
        for r in answers:
            assert r.status_code == 401, (r.request.url, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "UNAUTHENTICATED" in r.text
        assert log.statements == []


# 5. CSRF on REST -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers,content",
    [
        ({"content-type": "text/plain"}, b'{"lat": 1, "lon": 2, "source_type": "csrf"}'),
        (
            {"content-type": "application/x-www-form-urlencoded"},
            b'{"lat": 1, "lon": 2, "source_type": "csrf"}',
        ),
        ({"content-type": "multipart/form-data; boundary=x"}, b'--x\r\n\r\n{"lat": 1}\r\n--x--'),
        ({}, b'{"lat": 1, "lon": 2, "source_type": "csrf"}'),
    ],
)
async def test_5_rest_writes_take_json_only(
    env_client: httpx.AsyncClient, clean_db: asyncpg.Pool, headers: dict[str, str], content: bytes
) -> None:
    with log_statements() as log:
        r = await env_client.post("/api/observations", content=content, headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "BAD_USER_INPUT" and r.json()["error"]["field"] == "Content-Type"
    assert log.statements == []
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0
    ok = await env_client.post("/api/observations", json={"lat": 1, "lon": 2, "source_type": "json"})
    assert ok.status_code == 200, ok.text


# 6. bulk ingest: a per-line limit, linear parsing ------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["application/x-ndjson", "text/csv"])
async def test_6_a_line_over_the_limit_stores_nothing(
    env_client: httpx.AsyncClient, clean_db: asyncpg.Pool, content_type: str
) -> None:
    if content_type == "text/csv":
        body = (
            b'time,lon,lat,sourceType\n2026-01-01T00:00:00Z,1,1,ok\n2026-01-01T00:00:00Z,1,1,"'
            + (b"a\n" * 700_000)
            + b'"\n'
        )
    else:
        good = b'{"time": "2026-01-01T00:00:00Z", "lon": 1, "lat": 1}\n'
        body = (
            good
            + b'{"time": "2026-01-01T00:00:00Z", "lon": 1, "lat": 1, "metadata": {"x": "'
            + (b"a" * 3_000_000)
            + b'"}}\n'
        )
    r = await env_client.post("/ingest/observations", content=body, headers={"content-type": content_type})
    assert r.status_code == 400, r.text[:300]
    error = r.json()["error"]
    assert error["code"] == "INVALID_ITEM" and error["line"] == (3 if content_type == "text/csv" else 2), (
        error
    )
    assert "longer than" in error["message"]
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0


# 7. huge variable lists --------------------------------------------------------------------------------------
async def test_7_huge_variable_lists(env_client: httpx.AsyncClient) -> None:
    kinds = "query($k: [String!]) { entities(filter: {kinds: $k}) { nodes { id } } }"
    for path in ("/graphql", SUBGRAPH):
        await refused(
            env_client, path, {"query": kinds, "variables": {"k": ["v"] * 400_000}}, "BATCH_TOO_LARGE"
        )
    reps = [{"__typename": "Entity", "id": "00000000-0000-0000-0000-000000000001"}] * 100_000
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id } } }"
    await refused(env_client, SUBGRAPH, {"query": query, "variables": {"r": reps}}, "BATCH_TOO_LARGE")


# 8. what production settings reveal -----------------------------------------------------------------------
async def test_8_production_reveals_nothing(env_client: httpx.AsyncClient) -> None:
    production = env_client.env == "production"  # type: ignore[attr-defined]
    typo = await env_client.post("/graphql", json={"query": "{ observation(id: 1) { idd } }"})
    assert ("Did you mean" in typo.text) is not production, typo.text
    introspection = await env_client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert ("errors" in introspection.json()) is production, introspection.text[:200]
    graphiql = await env_client.get("/graphql", headers={"accept": "text/html"})
    assert (graphiql.status_code == 404) is production
    # the subgraph routes: behind the shared secret in production (this client sends it)
    sdl = await env_client.post(SUBGRAPH, json={"query": "{ _service { sdl } }"})
    assert "type Entity" in sdl.text
    if production:
        for path in (SUBGRAPH, "/subgraphs/mobility/graphql"):
            r = await env_client.post(path, json={"query": "{ _service { sdl } }"}, headers={HEADER: "guess"})
            assert r.status_code == 403 and r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            assert "type Entity" not in r.text and r.headers["x-request-id"]


async def test_8_production_without_a_secret_has_no_subgraph_routes(database_url: str) -> None:
    async with app_client(settings_for("production"), database_url, installed_modules()) as client:
        for path in (SUBGRAPH, "/subgraphs/mobility/graphql", "/subgraphs/airspace/graphql"):
            r = await client.post(path, json={"query": "{ _service { sdl } }"})
            assert r.status_code == 404, (path, r.text)
        assert (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


async def test_8_get_queries_can_be_turned_off(database_url: str) -> None:
    async with app_client(settings_for("production", get_queries=False), database_url) as client:
        r = await client.get("/graphql", params={"query": "{ __typename }"})
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        assert r.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


# 9. client input is never INTERNAL ---------------------------------------------------------------------------
NUL_CASES = [
    ("query($k: String!) { restrictedZones(kinds: [$k]) { id } }", {"k": "a\u0000b"}),
    ("query($k: ID!) { zoneViolations(zoneIds: [$k]) { __typename } }", {"k": "a\u0000b"}),
    ("query($k: ID!) { vehicles(ids: [$k]) { id } }", {"k": "\u0000"}),
    ("query($k: String!) { entities(filter: {kinds: [$k]}) { nodes { id } } }", {"k": "\u0000"}),
    ('mutation($n: String!) { createEntities(entities: [{kind: "v", name: $n}]) { id } }', {"n": "a\u0000"}),
]


@pytest.mark.parametrize(("query", "variables"), NUL_CASES)
async def test_9_nul_characters(
    env_client: httpx.AsyncClient, clean_db: asyncpg.Pool, query: str, variables: dict[str, Any]
) -> None:
    r = await env_client.post("/graphql", json={"query": query, "variables": variables})
    errors = r.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] in (["BAD_USER_INPUT"], ["INVALID_ITEM"]), errors
    no_internals(r.text)
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 0


async def test_9_deep_metadata(env_client: httpx.AsyncClient, clean_db: asyncpg.Pool) -> None:
    metadata: dict[str, Any] = {}
    for _ in range(330):
        metadata = {"a": metadata}
    item = {"time": "2026-01-01T00:00:00Z", "lon": 1, "lat": 1, "metadata": metadata}
    query = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
    await refused(env_client, "/graphql", {"query": query, "variables": {"o": [item]}}, "BAD_USER_INPUT")
    bulk = await env_client.post(
        "/ingest/observations",
        content=json.dumps(item).encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert bulk.status_code == 400 and bulk.json()["error"]["code"] in ("INVALID_ITEM", "BAD_USER_INPUT")
    rest = await env_client.post("/api/observations", json={"lat": 1, "lon": 2, "metadata": metadata})
    assert rest.status_code == 400 and rest.json()["error"]["code"] == "BAD_USER_INPUT", rest.text[:300]
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0


BAD_REPRESENTATIONS = [
    5,
    "Entity",
    None,
    [],
    {"id": "00000000-0000-0000-0000-000000000001"},
    {"__typename": 5, "id": "x"},
    {"__typename": "Nope", "id": "x"},
    {"__typename": "Query"},
    {"__typename": "Entity"},
    {"__typename": "Entity", "nope": 1},
    {"__typename": "Entity", "id": "not-a-uuid"},
    {"__typename": "Entity", "id": {"deep": [1]}},
]


@pytest.mark.parametrize(
    "representation", BAD_REPRESENTATIONS, ids=[str(i) for i in range(len(BAD_REPRESENTATIONS))]
)
async def test_9_malformed_entity_representations(env_client: httpx.AsyncClient, representation: Any) -> None:
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id } } }"
    for path in (SUBGRAPH, "/subgraphs/mobility/graphql"):
        r = await env_client.post(path, json={"query": query, "variables": {"r": [representation]}})
        assert r.status_code < 500
        errors = r.json().get("errors", [])
        codes = {e.get("extensions", {}).get("code") for e in errors}
        # refused with the caller's error, or answered (a key that matches nothing is null; mobility's Entity
        # stub echoes its key)
        assert codes <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST"}, errors
        no_internals(r.text)


BAD_AREAS = [
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, "a"], [2, 2], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": 7},
    {"type": "MultiPolygon", "coordinates": [[[[0, 0]]]]},
    {"type": "Point", "coordinates": [1, 2]},
    {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]},
    '{"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]',
    "[]",
]


@pytest.mark.parametrize("area", BAD_AREAS, ids=[str(i) for i in range(len(BAD_AREAS))])
async def test_9_bad_geometry_is_explained_in_our_words(env_client: httpx.AsyncClient, area: Any) -> None:
    query = "query($a: GeoJSON!) { observations(filter: {within: $a}) { nodes { id } } }"
    r = await env_client.post("/graphql", json={"query": query, "variables": {"a": area}})
    errors = r.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] in (["BAD_GEOMETRY"], ["BAD_USER_INPUT"]), errors
    message = errors[0]["message"]
    for leaked in ("Exception", "json.exception", "GEOS", "component[", "LinearRing"):
        assert leaked not in message, message


SIBLINGS = [
    '{ entities(first: 1) { nodes { id } } vehicles(ids: ["zz"]) { id } }',
    "{ entities(first: -1) { nodes { id } } vehicles { id } }",
    '{ entity(id: "zz") { id } vehicles(first: -1) { id } geofences { id } }',
    '{ observations(first: 1) { nodes { id } } restrictedZones(kinds: ["\\u0000"]) { id } }',
]


@pytest.mark.parametrize("query", SIBLINGS)
async def test_9_a_failing_root_field_gives_typed_errors_only(
    env_client: httpx.AsyncClient, query: str
) -> None:
    r = await env_client.post("/graphql", json={"query": query})
    errors = r.json()["errors"]
    assert all(e.get("extensions", {}).get("code") not in (None, "INTERNAL") for e in errors), errors
    assert not any("Cannot return null" in e["message"] for e in errors), errors


def test_8_atlas4d_gateway_follows_production_settings() -> None:
    """`atlas4d gateway` served GraphiQL and introspection whatever ATLAS4D_ENV said (its CLI defaults won); a
    real server on a free port, as an operator starts it."""
    supergraph = ROOT / "graphql" / "supergraph.graphql"
    introspect = {"query": "{ __schema { queryType { name } } }"}
    with gateway(supergraph, env="production", anonymous_role="reader") as base:
        assert httpx.get(f"{base}/graphql", headers={"accept": "text/html"}).status_code == 404
        refused = httpx.post(f"{base}/graphql", json=introspect).json()
        assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", refused
        anonymous = httpx.post(f"{base}/graphql", json=introspect, headers={"x-request-id": "r1"})
        assert anonymous.headers["x-request-id"] == "r1"
    with gateway(supergraph) as base:  # development: both on
        assert httpx.post(f"{base}/graphql", json=introspect).json() == {
            "data": {"__schema": {"queryType": {"name": "Query"}}}
        }
        assert httpx.get(f"{base}/graphql", headers={"accept": "text/html"}).status_code in (200, 503)
