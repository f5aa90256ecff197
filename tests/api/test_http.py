"""GraphQL over HTTP: GET and POST, GraphiQL, request errors, cost limits, body limit, introspection switch,
masked internal errors, and the federation entry points of the core subgraph."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema, GraphQLString
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from atlas4d.app import create_app
from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.db.pool import log_statements
from atlas4d.settings import Settings
from atlas4d.web.graphql_http import GraphQLEndpoint
from live_server import MODERN_ACCEPT

SUBGRAPH = "/subgraphs/core/graphql"
# the federation gateway at /graphql and the core subgraph behind it speak the same GraphQL over HTTP
ENDPOINTS = pytest.mark.parametrize("path", ["/graphql", SUBGRAPH], ids=["gateway", "core"])


def tiny_client(
    schema: GraphQLSchema, settings: Settings, pool: asyncpg.Pool | None = None
) -> httpx.AsyncClient:
    """A Starlette app serving `schema` through GraphQLEndpoint, with `settings`."""

    async def context(request: Request, request_id: str) -> Any:
        return Context.create(pool, settings, request_id) if pool is not None else {"request_id": request_id}

    endpoint = GraphQLEndpoint(schema, settings, context)
    app = Starlette(routes=[Route("/graphql", endpoint.handle, methods=["GET", "POST"])])
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://tiny", headers=MODERN_ACCEPT)


@pytest.fixture
async def core_with(pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """Build a client for the core schema with some settings changed."""
    clients: list[httpx.AsyncClient] = []

    def build(**changes: Any) -> httpx.AsyncClient:
        c = tiny_client(build_core_schema()._schema, Settings(database_url=None, **changes), pool)
        clients.append(c)
        return c

    yield build
    for c in clients:
        await c.aclose()


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


async def test_typename_over_post_and_get(client: httpx.AsyncClient) -> None:
    for path in ("/graphql", SUBGRAPH):
        post = await client.post(path, json={"query": "{ __typename }"})
        get = await client.get(path, params={"query": "{ __typename }"})
        assert post.json() == get.json() == {"data": {"__typename": "Query"}}
        assert post.headers["content-type"].startswith("application/graphql-response+json")  # it accepts it
        assert post.headers["x-request-id"]


@ENDPOINTS
async def test_get_query_with_variables(clean_db: asyncpg.Pool, client: httpx.AsyncClient, path: str) -> None:
    query = "query($n: Int) { observations(first: $n) { nodes { id } pageInfo { hasNextPage } } }"
    response = await client.get(path, params={"query": query, "variables": '{"n": 5}'})
    assert response.status_code == 200
    assert response.json() == {"data": {"observations": {"nodes": [], "pageInfo": {"hasNextPage": False}}}}
    bad = await client.get(path, params={"query": query, "variables": "{not json"})
    assert (bad.status_code, code_of(bad)) == (400, "BAD_REQUEST")


@ENDPOINTS
async def test_get_mutation_is_refused(clean_db: asyncpg.Pool, client: httpx.AsyncClient, path: str) -> None:
    mutation = 'mutation { createEntities(entities: [{kind: "vehicle"}]) { id } }'
    response = await client.get(path, params={"query": mutation})
    assert (response.status_code, code_of(response)) == (405, "METHOD_NOT_ALLOWED")
    named = 'query Q { __typename } mutation M { createEntities(entities: [{kind: "x"}]) { id } }'
    response = await client.get(path, params={"query": named, "operationName": "M"})
    assert response.status_code == 405
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 0
    allowed = await client.get(path, params={"query": named, "operationName": "Q"})
    assert allowed.json() == {"data": {"__typename": "Query"}}


async def test_graphiql_for_browsers(client: httpx.AsyncClient, core_with: Any) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    off = await core_with(graphiql=False).get("/graphql", headers={"accept": "text/html"})
    assert off.status_code == 404 and "graphiql" not in off.text.lower().replace("graphiql is disabled", "")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/json"), (b"", "application/json"), (b"[1, 2]", "application/json"),
     (b'"query"', "application/json"), (b'{"query": 5}', "application/json"), (b'{"query": "  "}', "application/json"),
     (b'{"query": "{ __typename }", "variables": [1]}', "application/json"),
     (b'{"query": "{ __typename }", "operationName": 7}', "application/json"),
     (b"query=%7B__typename%7D", "application/x-www-form-urlencoded")],
)  # fmt: skip
@ENDPOINTS
async def test_malformed_requests_are_400(
    client: httpx.AsyncClient, path: str, body: bytes, content_type: str
) -> None:
    response = await client.post(path, content=body, headers={"content-type": content_type})
    # a non-JSON media type may also be refused as such (415), see the CSRF test below
    assert response.status_code in ((400,) if content_type == "application/json" else (400, 415))
    assert code_of(response) == "BAD_REQUEST"


@ENDPOINTS
async def test_parse_and_validation_errors_are_400(client: httpx.AsyncClient, path: str) -> None:
    parse = await client.post(path, json={"query": "{ observations { "})
    assert (parse.status_code, code_of(parse)) == (400, "GRAPHQL_PARSE_FAILED")
    invalid = await client.post(path, json={"query": "{ observations { nope } }"})
    assert (invalid.status_code, code_of(invalid)) == (400, "GRAPHQL_VALIDATION_FAILED")
    assert "nope" in invalid.json()["errors"][0]["message"]


@ENDPOINTS
async def test_other_methods_are_refused(client: httpx.AsyncClient, path: str) -> None:
    # PUT and DELETE are graphql-sse's single connection mode (streaming/sse_single.py)
    response = await client.patch(path, json={"query": "{ __typename }"})
    assert response.status_code == 405


def chain(fields: list[str]) -> str:
    return "{ " + " { ".join(fields) + " }" * len(fields)


def nested(depth: int) -> list[str]:
    """Fields `depth` deep: observations > nodes > (track > entity > latestObservation)* > id."""
    cycle = ["track", "entity", "latestObservation"]
    return ["observations", "nodes"] + [cycle[i % 3] for i in range(depth - 3)] + ["id"]


@ENDPOINTS
async def test_depth_limit(clean_db: asyncpg.Pool, client: httpx.AsyncClient, path: str) -> None:
    at_limit = await client.post(path, json={"query": chain(nested(12))})
    assert at_limit.status_code == 200 and "errors" not in at_limit.json(), at_limit.text
    over = await client.post(path, json={"query": chain(nested(13))})
    assert (over.status_code, code_of(over)) == (400, "QUERY_TOO_COMPLEX")
    assert "13" in over.json()["errors"][0]["message"]
    # fragments do not hide depth
    fragment = "query { observations { ...O } } fragment O on ObservationConnection " + chain(nested(13)[1:])
    hidden = await client.post(path, json={"query": fragment})
    assert code_of(hidden) == "QUERY_TOO_COMPLEX", hidden.text


@ENDPOINTS
async def test_alias_limit(clean_db: asyncpg.Pool, client: httpx.AsyncClient, path: str) -> None:
    def aliased(n: int) -> str:
        return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"

    ok = await client.post(path, json={"query": aliased(100)})
    assert ok.status_code == 200 and len(ok.json()["data"]) == 100
    over = await client.post(path, json={"query": aliased(101)})
    assert (over.status_code, code_of(over)) == (400, "QUERY_TOO_COMPLEX")
    spread = (
        "query { ...F ...F } fragment F on Query { " + " ".join(f"b{i}: __typename" for i in range(60)) + " }"
    )
    assert code_of(await client.post(path, json={"query": spread})) == "QUERY_TOO_COMPLEX"


async def test_token_limit(clean_db: asyncpg.Pool, core_with: Any) -> None:
    small = core_with(max_tokens=30)
    ok = await small.post("/graphql", json={"query": "{ observations(first: 1) { nodes { id lon lat } } }"})
    assert ok.status_code == 200 and "errors" not in ok.json(), ok.text
    long = "{ observations(first: 1) { nodes { " + " ".join(["id"] * 40) + " } } }"
    over = await small.post("/graphql", json={"query": long})
    assert (over.status_code, code_of(over)) == (400, "QUERY_TOO_COMPLEX")


async def test_body_limit(client: httpx.AsyncClient, core_with: Any) -> None:
    padding = "#" + "x" * (8 * 1024 * 1024)
    for path in ("/graphql", SUBGRAPH):
        big = await client.post(path, json={"query": "{ __typename }\n" + padding})
        assert (big.status_code, code_of(big)) == (413, "REQUEST_TOO_LARGE")
    small = core_with(max_body_bytes=200)
    under = await small.post("/graphql", json={"query": "{ __typename }"})
    assert under.status_code == 200

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: the limit is enforced while reading
        yield b'{"query": "{ __typename }'
        for _ in range(50):
            yield b" " * 10
        yield b'"}'

    streamed = await small.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert (streamed.status_code, code_of(streamed)) == (413, "REQUEST_TOO_LARGE")


async def test_introspection_switch(client: httpx.AsyncClient, core_with: Any) -> None:
    query = {"query": "{ __schema { queryType { name } } }"}
    on = await client.post("/graphql", json=query)
    assert on.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    off = await core_with(introspection=False).post("/graphql", json=query)
    assert (off.status_code, code_of(off)) == (400, "GRAPHQL_VALIDATION_FAILED")
    typename = await core_with(introspection=False).post("/graphql", json={"query": "{ __typename }"})
    assert typename.json() == {"data": {"__typename": "Query"}}


def failing_schema() -> GraphQLSchema:
    def boom(*_: Any) -> str:
        raise RuntimeError("secret SQL: SELECT password FROM atlas4d.users WHERE token = 'hunter2'")

    return GraphQLSchema(
        GraphQLObjectType(
            "Query", {"boom": GraphQLField(GraphQLString, resolve=boom), "fine": GraphQLField(GraphQLString)}
        )
    )


async def test_unexpected_error_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    async with tiny_client(failing_schema(), Settings(database_url=None)) as tiny:
        with caplog.at_level(logging.ERROR, logger="atlas4d.errors"):
            response = await tiny.post(
                "/graphql", json={"query": "{ fine boom }"}, headers={"x-request-id": "req-42"}
            )
        assert response.status_code == 200
        body = response.json()
        assert body["data"] == {"fine": None, "boom": None}
        (err,) = body["errors"]
        assert err["extensions"] == {"code": "INTERNAL", "requestId": "req-42"}
        assert err["path"] == ["boom"] and "req-42" in err["message"]
        for secret in ("secret", "SELECT", "hunter2", "RuntimeError", "Traceback"):
            assert secret not in response.text
        assert response.headers["x-request-id"] == "req-42"
        assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)

        generated = await tiny.get("/graphql", params={"query": "{ boom }"})
        request_id = generated.json()["errors"][0]["extensions"]["requestId"]
        assert request_id and request_id == generated.headers["x-request-id"]


async def test_service_sdl(client: httpx.AsyncClient) -> None:
    response = await client.post(SUBGRAPH, json={"query": "{ _service { sdl } }"})
    sdl = response.json()["data"]["_service"]["sdl"]
    for type_name in ("Entity", "Observation", "Track"):
        assert f'type {type_name} @key(fields: "id")' in sdl
    assert "specs.apollo.dev/federation/v2" in sdl and "observationsGeoJSON" in sdl


ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) { __typename "
    "... on Entity { id kind latestObservation { id } } ... on Observation { id lon lat entity { id } } "
    "... on Track { id pointCount } } }"
)


async def test_entities_resolve_by_key_in_batches(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    entities = [str(uuid.uuid4()) for _ in range(30)]
    track = str(uuid.uuid4())
    items = [
        {"time": f"2026-03-01T08:{i:02d}:00Z", "lon": 27.4 + i / 100, "lat": 42.5, "entityId": e,
         "entityKind": "vehicle", "trackId": track}
        for i, e in enumerate(entities)
    ]  # fmt: skip
    mutation = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
    assert (
        await client.post("/graphql", json={"query": mutation, "variables": {"o": items}})
    ).status_code == 200
    obs = await clean_db.fetchrow("SELECT id, entity_id FROM atlas4d.observations_core ORDER BY t LIMIT 1")
    reps = [{"__typename": "Entity", "id": e} for e in entities]
    reps += [{"__typename": "Track", "id": track}, {"__typename": "Observation", "id": str(obs["id"])},
             {"__typename": "Entity", "id": str(uuid.uuid4())}, {"__typename": "Track", "id": "not-a-uuid"},
             {"__typename": "Observation", "id": "424242"}]  # fmt: skip
    with log_statements() as log:
        response = await client.post(SUBGRAPH, json={"query": ENTITIES, "variables": {"r": reps}})
    body = response.json()
    assert "errors" not in body, body
    got = body["data"]["_entities"]
    assert [g["id"] for g in got[:30]] == entities and {g["kind"] for g in got[:30]} == {"vehicle"}
    assert all(g["latestObservation"] for g in got[:30])
    assert got[30] == {"__typename": "Track", "id": track, "pointCount": 30}
    assert got[31]["id"] == str(obs["id"]) and got[31]["entity"] == {"id": str(obs["entity_id"])}
    assert got[32:] == [None, None, None]
    entity_reads = [s for s in log.statements if "FROM atlas4d.entities" in s]
    assert len(entity_reads) == 1, log.statements  # 31 entities (30 + the observation's) in one statement
    assert len(log.statements) <= 5, log.statements


@pytest.mark.parametrize(
    "sent",
    ["a" * 500, "id with spaces", "x\ty", "<script>", "ünïcode"],
    ids=["long", "spaces", "tab", "markup", "non-ascii"],
)
async def test_unsafe_request_ids_are_not_echoed(client: httpx.AsyncClient, sent: str) -> None:
    """Like the REST layer, only `[A-Za-z0-9._-]{1,64}` ids are adopted: others would flow into logs and
    messages verbatim (log injection, unbounded size), so a fresh id is used instead."""
    headers = {"x-request-id": sent.encode()}
    as_received = sent.encode().decode("latin-1")
    async with tiny_client(failing_schema(), Settings(database_url=None)) as tiny:
        response = await tiny.post("/graphql", json={"query": "{ boom }"}, headers=headers)
        request_id = response.json()["errors"][0]["extensions"]["requestId"]
        assert request_id != as_received and 1 <= len(request_id) <= 64
        assert response.headers["x-request-id"] == request_id
    for path in ("/graphql", SUBGRAPH):
        echoed = (await client.post(path, json={"query": "{ __typename }"}, headers=headers)).headers
        assert echoed.get("x-request-id") != as_received


async def test_settings_reach_the_gateway_and_the_subgraph(database_url: str) -> None:
    """The whole app built with stricter settings applies them on /graphql (the gateway) and on the subgraph."""
    strict = Settings(
        database_url=None, introspection=False, graphiql=False, max_query_depth=3, max_aliases=2
    )
    app = create_app(strict, dsn=database_url, modules=[])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://strict", headers=MODERN_ACCEPT
        ) as c,
    ):
        for path in ("/graphql", SUBGRAPH):
            schema = await c.post(path, json={"query": "{ __schema { queryType { name } } }"})
            assert (schema.status_code, code_of(schema)) == (400, "GRAPHQL_VALIDATION_FAILED"), path
            ide = await c.get(path, headers={"accept": "text/html"})
            assert ide.status_code == 404 and not ide.headers["content-type"].startswith("text/html"), path
            deep = await c.post(path, json={"query": chain(nested(4))})
            assert code_of(deep) == "QUERY_TOO_COMPLEX", (path, deep.text)
            aliases = await c.post(path, json={"query": "{ a: __typename b: __typename c: __typename }"})
            assert code_of(aliases) == "QUERY_TOO_COMPLEX", (path, aliases.text)
            ok = await c.post(
                path, json={"query": "{ a: __typename observations(first: 1) { nodes { id } } }"}
            )
            assert "errors" not in ok.json(), (path, ok.text)


@ENDPOINTS
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
async def test_simple_request_content_types_do_not_execute(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    """CSRF: a browser sends these content types cross-origin without a preflight, so a JSON body under them
    must not run a mutation (Apollo Router and Server refuse them too); application/json is the way in."""
    body = b'{"query": "mutation { createEntities(entities: [{kind: \\"csrf\\"}]) { id } }"}'
    response = await client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code in (400, 415), response.text
    assert response.json()["errors"]
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 0
    ok = await client.post(path, content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert "errors" not in ok.json(), ok.text
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 1


@pytest.mark.parametrize(
    ("query", "operation"),
    [
        ("query A { __typename } query B { __typename }", "C"),
        ("query A { __typename } query B { __typename }", None),
    ],
    ids=["unknown-name", "name-missing"],
)
async def test_operation_name_errors_are_request_errors(
    client: httpx.AsyncClient, query: str, operation: str | None
) -> None:
    """The operation to run cannot be chosen: the same request error on both endpoints and both methods (a GET
    naming no existing operation is not a mutation, so not 405)."""
    codes = set()
    for path in ("/graphql", SUBGRAPH):
        params = {"query": query, **({"operationName": operation} if operation else {})}
        for response in (await client.post(path, json=params), await client.get(path, params=params)):
            assert response.status_code in (200, 400), (path, response.status_code, response.text)
            codes.add(code_of(response))
    assert len(codes) == 1 and codes <= {"BAD_REQUEST", "BAD_USER_INPUT"}, codes
