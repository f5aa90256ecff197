"""Every GraphQL root query field of the served API (core and the installed modules), over the original's
database, answers without any error — the selection generated from introspection: every field to depth 3,
required arguments filled by type, lists cut to a few items. On the original's rows this used to give
`INTERNAL` (totalCount with lat/lon-only rows), null in non-null fields, and a failing `anomalies` field.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from compat_db import OriginalDatabase
from seed_like import TRAFFIC_TRACK

from atlas4d.modules.registry import discover

INTROSPECT = """{ __schema { queryType { name } types { name kind fields {
  name args { name defaultValue type { ...T } } type { ...T } } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"""
ROOT_NAMES = "{ __schema { queryType { fields { name } } } }"
MAX_DEPTH = 3
NOW = datetime.now(UTC).isoformat()


def unwrap(t: dict[str, Any]) -> tuple[str, str, bool]:
    """(kind, name, non-null) of the named type under lists and non-nulls."""
    non_null = t["kind"] == "NON_NULL"
    while t.get("ofType") is not None:
        t = t["ofType"]
    return t["kind"], t["name"], non_null


def literal(type_name: str, field: str, ids: dict[str, str]) -> str | None:
    """A value for a required argument, by type (and, for ids, by the field asking)."""
    if type_name == "ID":
        return f'"{ids.get(field, ids["observation"])}"'
    return {
        "DateTime": f'"{NOW}"',
        "Duration": '"PT1H"',
        "Float": "1.0",
        "Int": "1",
        "String": '"x"',
        "Boolean": "true",
    }.get(type_name)


class Selector:
    def __init__(self, types: dict[str, dict[str, Any]], ids: dict[str, str]) -> None:
        self.types = types
        self.ids = ids

    def arguments(self, field: dict[str, Any], root: bool) -> str | None:
        out = []
        for arg in field["args"]:
            _, name, non_null = unwrap(arg["type"])
            if arg["name"] == "first" and name == "Int":
                out.append("first: 3")
            elif arg["name"] == "limit" and name == "Int":
                out.append("limit: 3")
            elif arg["name"] == "cellSize" and root:
                out.append("cellSize: 0.01")
            elif non_null and arg["defaultValue"] is None:
                value = literal(name, field["name"], self.ids)
                if value is None:
                    return None  # a required input object: not generated
                out.append(f"{arg['name']}: {value}")
        return f"({', '.join(out)})" if out else ""

    def selection(self, type_name: str, depth: int) -> str | None:
        parts = []
        for field in self.types[type_name]["fields"] or []:
            kind, name, _ = unwrap(field["type"])
            args = self.arguments(field, root=False)
            if args is None:
                continue
            if kind in ("SCALAR", "ENUM"):
                parts.append(f"{field['name']}{args}")
            elif depth < MAX_DEPTH and kind in ("OBJECT", "INTERFACE"):
                inner = self.selection(name, depth + 1)
                if inner:
                    parts.append(f"{field['name']}{args} {inner}")
            elif depth < MAX_DEPTH and kind == "UNION":
                parts.append(f"{field['name']}{args} {{ __typename }}")
        return "{ " + " ".join(parts) + " }" if parts else None


async def root_queries(client: httpx.AsyncClient, ids: dict[str, str]) -> dict[str, str]:
    schema = (await client.post("/graphql", json={"query": INTROSPECT})).json()["data"]["__schema"]
    types = {t["name"]: t for t in schema["types"] if t["fields"] is not None}
    selector = Selector(types, ids)
    out = {}
    for field in types[schema["queryType"]["name"]]["fields"]:
        if field["name"].startswith("_"):
            continue  # federation's _service/_entities are for gateways
        kind, name, _ = unwrap(field["type"])
        args = selector.arguments(field, root=True)
        assert args is not None, f"cannot generate arguments for {field['name']}"
        inner = selector.selection(name, 1) if kind not in ("SCALAR", "ENUM") else ""
        assert inner is not None
        out[field["name"]] = f"{{ {field['name']}{args} {inner} }}"
    return out


@pytest.fixture
async def ids(original_db: OriginalDatabase) -> dict[str, str]:
    lat_lon_only = next(o for o in original_db.data.observations if o.geom is None and o.position)
    return {"observation": str(lat_lon_only.id), "track": str(TRAFFIC_TRACK), "entity": str(TRAFFIC_TRACK)}


async def test_every_root_query_field_answers_without_errors(
    compat: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    queries = await root_queries(compat, ids)
    assert {"observations", "anomalies", "entities", "tracks", "observationGrid"} <= set(queries)
    for module in discover():  # every module subgraph's own root fields are among those run
        own = await compat.post(f"/subgraphs/{module}/graphql", json={"query": ROOT_NAMES})
        names = {f["name"] for f in own.json()["data"]["__schema"]["queryType"]["fields"]}
        assert names - {"_service", "_entities"} <= set(queries), module
    failures = {}
    for name, query in queries.items():
        response = await compat.post("/graphql", json={"query": query})
        body = response.json()
        if response.status_code != 200 or body.get("errors") or body.get("data") is None:
            failures[name] = (query, body.get("errors"))
    assert not failures, failures
    assert len(queries) >= 20


MUTATIONS = {
    "createEntities": 'createEntities(entities: [{id: $entity, kind: "vehicle", name: "compat"}]) { id kind }',
    "ingestObservations": "ingestObservations(observations: [{time: $t, lon: 27.47, lat: 42.5, entityId: $entity, "
    'trackId: $track, sourceType: "vehicle"}]) { accepted entitiesCreated tracksUpdated }',
    "recordAnomalies": 'recordAnomalies(anomalies: [{observationId: $observation, anomalyType: "speed_spike", '
    "severity: 2, score: 0.5}]) { id anomalyType observation { lon lat } }",
}


async def test_every_mutation_root_field_writes_to_the_original_tables(
    compat: httpx.AsyncClient, original_db: OriginalDatabase
) -> None:
    """Each Mutation root field (the list is checked against introspection: a new one fails here until it is
    exercised) works on the Core Spec tables — the original's `anomalies.id` is a SERIAL, its columns nullable —
    and what it writes is served back by the position rule. Test rows are removed after."""
    names = await compat.post("/graphql", json={"query": "{ __schema { mutationType { fields { name } } } }"})
    assert {f["name"] for f in names.json()["data"]["__schema"]["mutationType"]["fields"]} == MUTATIONS.keys()
    entity, track = uuid.uuid4(), uuid.uuid4()
    lat_lon_only = next(o for o in original_db.data.observations if o.geom is None and o.position)
    variables = {"entity": str(entity), "track": str(track), "t": NOW, "observation": str(lat_lon_only.id)}
    fields = " ".join(MUTATIONS.values())  # one operation: mutation fields run in order
    query = "mutation($entity: ID!, $track: ID!, $t: DateTime!, $observation: ID!) { " + fields + " }"
    try:
        body = (await compat.post("/graphql", json={"query": query, "variables": variables})).json()
        assert "errors" not in body, body
        data = body["data"]
        assert data["createEntities"] == [{"id": str(entity), "kind": "vehicle"}]
        assert data["ingestObservations"] == {"accepted": 1, "entitiesCreated": 0, "tracksUpdated": 1}
        assert data["recordAnomalies"][0]["observation"] == {"lon": lat_lon_only.lon, "lat": lat_lon_only.lat}
        conn = await asyncpg.connect(original_db.url)
        try:
            row = await conn.fetchrow(
                "SELECT lat, lon, ST_X(geom) AS x, ST_Y(geom) AS y FROM atlas4d.observations_core WHERE track_id = $1",
                track,
            )
            # what the original's own REST would read (lat/lon columns) agrees with geom
            assert row is not None and (row["lon"], row["lat"]) == (row["x"], row["y"]) == (27.47, 42.5)
        finally:
            await conn.close()
    finally:
        await original_db.forget_test_rows()
        conn = await asyncpg.connect(original_db.url)
        try:
            await conn.execute("DELETE FROM atlas4d.tracks WHERE id = $1", track)
            await conn.execute("DELETE FROM atlas4d.entities WHERE id = $1", entity)
        finally:
            await conn.close()
    assert await original_db.state() == original_db.before
