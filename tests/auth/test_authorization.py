"""Authorization: roles -> permissions from the policy file, enforced on the parsed document with Apollo's
semantics (unauthorised fields null with an error at their path, the rest answered), route permissions on
REST and bulk ingest, and the open writes of issue 12 ("Why" 4) as regressions."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from auth_helpers import SECRET, bearer, gql, serve, token

from atlas4d.auth.policy import PolicyError, parse_policy
from atlas4d.settings import Settings

PROD = {"anonymous_role": "", "jwt_secret": SECRET}
POLICY = """
roles:
  reader: [read]
  analyst: [read, sensitive]
  writer: [read, write]
  ingester: [read, ingest]
  admin: [read, write, ingest, admin]
fields:
  Entity.name: [sensitive]
"""
CREATE = 'mutation M($id: ID!) { createEntities(entities: [{id: $id, kind: "car", name: "mine"}], onConflict: UPDATE) { id name } }'


def as_role(*roles: str) -> dict[str, str]:
    return bearer(token(roles=list(roles), sub=f"user-{'-'.join(roles) or 'none'}"))


async def entity_count(client) -> int:  # type: ignore[no-untyped-def]
    return int(await client.app.state.pool.fetchval("SELECT count(*) FROM atlas4d.entities"))


async def test_a_reader_cannot_mutate_and_gets_apollo_shaped_errors(
    settings: Settings, database_url: str
) -> None:
    async with serve(settings, database_url, **PROD) as client:
        before = await entity_count(client)
        r = await gql(client, CREATE, {"id": str(uuid4())}, **as_role("reader"))
        body = r.json()
        assert r.status_code == 200, body
        assert body["data"] is None  # createEntities is non-null: the null bubbles to data
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHORIZED_FIELD_OR_TYPE"
        assert body["errors"][0]["path"] == ["createEntities"]
        assert await entity_count(client) == before
        r = await gql(client, CREATE, {"id": str(uuid4())}, **as_role("writer"))
        assert "errors" not in r.json(), r.json()
        assert await entity_count(client) == before + 1


async def test_no_role_no_rows(settings: Settings, database_url: str) -> None:
    """A valid token without any role reads nothing: each root field null with an error (a non-null one
    makes `data` null, as a failing resolver would)."""
    async with serve(settings, database_url, **PROD) as client:
        query = '{ a: entity(id: "6f1c0d1e-0000-4000-8000-000000000001") { id } b: __typename }'
        body = (await gql(client, query, **as_role())).json()
        assert body["data"] == {"a": None, "b": "Query"}
        assert [e["path"] for e in body["errors"]] == [["a"]]
        body = (await gql(client, "{ entities(first: 1) { nodes { id } } }", **as_role())).json()
        assert body["data"] is None and body["errors"][0]["path"] == ["entities"]


async def test_field_rules_null_only_the_field(settings: Settings, database_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    async with serve(settings, database_url, **PROD, policy_file=policy) as client:
        # only the entity created here: other tests leave unnamed entities in the shared database
        mine = str(uuid4())
        await gql(client, CREATE, {"id": mine}, **as_role("writer"))
        query = f'query Q {{ entities(first: 2, filter: {{ids: ["{mine}"]}}) {{ nodes {{ id name properties }} totalCount }} }}'
        r = await gql(client, query, **as_role("reader"))
        body = r.json()
        nodes = body["data"]["entities"]["nodes"]
        assert nodes and all(n["name"] is None and n["id"] and n["properties"] is not None for n in nodes)
        assert list(nodes[0]) == ["id", "name", "properties"]  # the query's key order
        assert {tuple(e["path"]) for e in body["errors"]} == {("entities", "nodes", "@", "name")}
        r = await gql(client, query, **as_role("analyst"))
        assert "errors" not in r.json() and any(n["name"] for n in r.json()["data"]["entities"]["nodes"])
        # the same rule through a fragment and an alias
        fragment = f'{{ entities(first: 2, filter: {{ids: ["{mine}"]}}) {{ nodes {{ ...F }} }} }} fragment F on Entity {{ id n: name }}'
        body = (await gql(client, fragment, **as_role("reader"))).json()
        assert all(n["n"] is None for n in body["data"]["entities"]["nodes"])
        assert body["errors"][0]["path"] == ["entities", "nodes", "@", "n"]


async def test_rest_and_bulk_routes_need_their_permission(settings: Settings, database_url: str) -> None:
    obs = {"t": "2026-03-01T08:00:00Z", "lat": 42.5, "lon": 27.47, "source_type": "test"}
    line = b'{"time": "2026-03-01T08:00:00Z", "lat": 42.5, "lon": 27.47, "sourceType": "test"}\n'
    ndjson = {"content-type": "application/x-ndjson"}
    async with serve(settings, database_url, **PROD) as client:
        assert (await client.get("/api/observations", headers=as_role("reader"))).status_code == 200
        for roles, status in ((("reader",), 403), (("writer",), 403), (("ingester",), 200)):
            r = await client.post("/api/observations", json=obs, headers=as_role(*roles))
            assert r.status_code == status, (roles, r.text)
            r = await client.post("/ingest/observations", content=line, headers={**ndjson, **as_role(*roles)})
            assert r.status_code == status, (roles, r.text)
        r = await client.post("/api/observations", json=obs, headers=as_role("reader"))
        assert r.json()["error"]["code"] == "FORBIDDEN"


async def test_why4_open_writes_are_closed_in_production(settings: Settings, database_url: str) -> None:
    """Issue 12, Why 4: without credentials no mutation, REST POST or bulk ingest runs in production; with a
    reader's token createEntities(onConflict: UPDATE) cannot overwrite an entity."""
    async with serve(settings, database_url, **PROD) as client:
        victim = str(uuid4())
        await gql(client, CREATE, {"id": victim}, **as_role("writer"))
        assert (await gql(client, CREATE, {"id": victim})).status_code == 401
        r = await gql(client, CREATE.replace('"mine"', '"overwritten"'), {"id": victim}, **as_role("reader"))
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHORIZED_FIELD_OR_TYPE"
        name = await client.app.state.pool.fetchval("SELECT name FROM atlas4d.entities WHERE id = $1", victim)
        assert name == "mine"
        r = await client.post("/api/observations", json={"lat": 1, "lon": 1, "t": "2026-01-01T00:00:00Z"})
        assert r.status_code == 401
        r = await client.post(
            "/ingest/observations", content=b"{}", headers={"content-type": "application/x-ndjson"}
        )
        assert r.status_code == 401


def test_a_bad_policy_file_is_a_clear_error() -> None:
    with pytest.raises(PolicyError, match=r"roles\.reader"):
        parse_policy("roles: {reader: 3}")
    with pytest.raises(PolicyError, match="unknown keys"):
        parse_policy("rolez: {}")
    assert parse_policy(POLICY).permissions_of(["analyst", "nobody"]) == {"read", "sensitive"}
