"""Issue 12's reproductions through HTTP: each is refused with its typed code before any SQL (statements counted
at the driver), on the gateway (/graphql) and on the core subgraph alone."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from atlas4d.app import create_app
from atlas4d.db.pool import log_statements
from atlas4d.settings import Settings

SUBGRAPH = "/subgraphs/core/graphql"
# the GraphQL-over-HTTP media type: request errors answer 400 (under application/json they answer 200)
GRAPHQL_RESPONSE = {"accept": "application/graphql-response+json", "content-type": "application/json"}
BOTH = pytest.mark.parametrize("path", ["/graphql", SUBGRAPH], ids=["gateway", "core"])


def fragment_bomb(levels: int = 20) -> str:
    fragments = ["fragment F0 on Query { __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return f"query Q {{ ...F{levels} }} " + " ".join(fragments)


async def refused(
    client: httpx.AsyncClient, path: str, body: dict[str, Any] | bytes, code: str, status: int = 400
) -> dict[str, Any]:
    """Post `body`; assert the typed refusal, that no statement reached PostgreSQL, and return the error."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with log_statements() as log:
        response = await client.post(path, content=content, headers=GRAPHQL_RESPONSE)
    assert response.status_code == status, response.text[:500]
    error: dict[str, Any] = response.json()["errors"][0]
    assert error["extensions"]["code"] == code, error
    assert log.statements == [], log.statements
    assert "data" not in response.json()
    return error


@BOTH
async def test_fragment_bomb(client: httpx.AsyncClient, path: str) -> None:
    error = await refused(client, path, {"query": fragment_bomb(20)}, "QUERY_TOO_COMPLEX")
    assert "1,048,576 fields" in error["message"]


@BOTH
async def test_nested_lists_over_the_cost_limit(client: httpx.AsyncClient, path: str) -> None:
    query = "{ observations(first: 10000) { nodes { entity { observations(first: 10000) { id } } } } }"
    error = await refused(client, path, {"query": query}, "QUERY_TOO_COMPLEX")
    assert error["extensions"]["cost"] == 100_020_001
    assert error["extensions"]["maximum"] == Settings(database_url=None).max_cost


@BOTH
async def test_cost_from_variables(client: httpx.AsyncClient, clean_db: asyncpg.Pool, path: str) -> None:
    query = "query($n: Int!, $m: Int!) { entities(first: $n) { nodes { observations(first: $m) { id } } } }"
    await refused(client, path, {"query": query, "variables": {"n": 5000, "m": 10}}, "QUERY_TOO_COMPLEX")
    ok = await client.post(path, json={"query": query, "variables": {"n": 50, "m": 10}})
    assert ok.status_code == 200 and "errors" not in ok.json(), ok.text


@BOTH
async def test_huge_variable_list(client: httpx.AsyncClient, path: str) -> None:
    query = "query($k: [String!]) { entities(filter: {kinds: $k}) { nodes { id } } }"
    error = await refused(
        client, path, {"query": query, "variables": {"k": ["vehicle"] * 400_000}}, "BATCH_TOO_LARGE"
    )
    assert error["extensions"]["maximum"] == 10_000


async def test_huge_entities_representations(client: httpx.AsyncClient) -> None:
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id } } }"
    reps = [{"__typename": "Entity", "id": "00000000-0000-0000-0000-000000000001"}] * 100_000
    await refused(client, SUBGRAPH, {"query": query, "variables": {"r": reps}}, "BATCH_TOO_LARGE")


async def test_deeply_nested_metadata_stores_nothing(
    client: httpx.AsyncClient, clean_db: asyncpg.Pool
) -> None:
    metadata: dict[str, Any] = {}
    for _ in range(330):
        metadata = {"a": metadata}
    item = {"time": "2026-01-01T00:00:00Z", "lon": 1, "lat": 1, "metadata": metadata}
    query = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
    error = await refused(client, "/graphql", {"query": query, "variables": {"o": [item]}}, "BAD_USER_INPUT")
    assert "nest deeper than 64" in error["message"]
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0


@BOTH
async def test_field_merging_bomb(client: httpx.AsyncClient, path: str) -> None:
    """1,000 conflicting copies of one field took graphql-core's validation 4 s; refused before validating."""
    query = "{ " + " ".join(f'entity(id: "{i}") {{ id }}' for i in range(1000)) + " }"
    await refused(client, path, {"query": query}, "QUERY_TOO_COMPLEX")


async def test_production_settings_give_no_suggestions(database_url: str) -> None:
    # production turns anonymous access off (401 before validation); a reader role lets requests through
    # the subgraph routes are off in production unless asked for (test_reproductions.py covers that)
    settings = Settings(database_url=None, env="production", anonymous_role="reader", subgraph_routes=True)
    app = create_app(settings, dsn=database_url, modules=[])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://prod", headers=GRAPHQL_RESPONSE
        ) as c,
    ):
        for path in ("/graphql", SUBGRAPH):
            typo = await c.post(path, json={"query": "{ observation(id: 1) { idd } }"})
            assert typo.status_code == 400
            assert "Did you mean" not in typo.text and "idd" in typo.text, typo.text
            enum = await c.post(
                path,
                json={
                    "query": "query($o: TimeOrder!) { observations(orderBy: $o) { nodes { id } } }",
                    "variables": {"o": "TIME_DES"},
                },
            )
            assert "Did you mean" not in enum.text and "TIME_DESC" not in enum.text, enum.text
            schema = await c.post(path, json={"query": "{ __schema { types { name } } }"})
            assert schema.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
