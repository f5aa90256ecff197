"""Batching proven by counting statements at the driver: nested fields cost one statement per loader
batch, whatever the number of parents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from atlas4d.core.ingest import ObservationItem, ingest_observations
from atlas4d.db.pool import log_statements

T0 = datetime(2026, 5, 1, tzinfo=UTC)

NESTED = """query($n: Int!) {
  entities(first: $n, filter: {kinds: ["vehicle"]}) {
    nodes {
      id
      latestObservation { id entity { id } }
      observations(first: 5) { id anomalies { id } track { id pointCount } }
      tracks(first: 3) { id geometry positionAt(time: "2026-05-01T00:03:00Z") { lon lat }
               observations(first: 3) { id } }
    }
  }
}"""

# one statement per field of NESTED that loads: entities page, latestObservation, Observation.entity,
# observations, anomalies, Observation.track, tracks, Track.geometry, positionAt, Track.observations
EXPECTED_STATEMENTS = 10


async def load(pool: Any, n_entities: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n_entities)]
    items = []
    for i, ent in enumerate(ids):
        track = uuid.uuid4()
        for k in range(8):
            items.append(
                ObservationItem(
                    time=T0 + timedelta(minutes=k),
                    lon=27.4 + 0.001 * k,
                    lat=42.5 + 0.0001 * i,
                    speed=10.0,
                    entity_id=str(ent),
                    entity_kind="vehicle",
                    track_id=str(track),
                )
            )
    await ingest_observations(pool, items, max_batch=10_000, copy_threshold=200)
    first_obs = await pool.fetch("SELECT min(id) AS id FROM atlas4d.observations_core GROUP BY entity_id")
    await pool.executemany(
        "INSERT INTO atlas4d.anomalies (observation_id, anomaly_type, severity, score) VALUES ($1, 'x', 2, 0.5)",
        [(r["id"],) for r in first_obs],
    )
    return ids


async def run(client: httpx.AsyncClient, n: int) -> tuple[dict[str, Any], list[str]]:
    with log_statements() as log:
        r = await client.post("/graphql", json={"query": NESTED, "variables": {"n": n}})
    body = r.json()
    assert "errors" not in body, body
    return body["data"], log.statements


@pytest.mark.parametrize("n", [1, 10, 100])
async def test_nested_fields_take_a_fixed_number_of_statements(
    clean_db: Any, client: httpx.AsyncClient, n: int
) -> None:
    await load(clean_db, n)
    data, statements = await run(client, n)
    nodes = data["entities"]["nodes"]
    assert len(nodes) == n
    # the answer is complete, so the count is not low because fields came back empty
    for node in nodes:
        assert node["latestObservation"]["entity"]["id"] == node["id"]
        assert len(node["observations"]) == 5
        assert all(o["track"]["pointCount"] == 8 for o in node["observations"])
        assert len(node["tracks"]) == 1 and len(node["tracks"][0]["observations"]) == 3
        assert node["tracks"][0]["positionAt"] is not None
    assert sum(len(o["anomalies"]) for node in nodes for o in node["observations"]) == 0  # newest 5 have none
    assert len(statements) == EXPECTED_STATEMENTS, "\n".join(s[:100] for s in statements)


async def test_entity_references_are_batched(clean_db: Any, client: httpx.AsyncClient) -> None:
    ids = await load(clean_db, 50)
    reps = [{"__typename": "Entity", "id": str(i)} for i in ids]
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id kind latestObservation { id } } } }"
    with log_statements() as log:
        r = await client.post("/subgraphs/core/graphql", json={"query": query, "variables": {"r": reps}})
    body = r.json()
    assert "errors" not in body, body
    assert [e["id"] for e in body["data"]["_entities"]] == [str(i) for i in ids]
    assert len(log) == 2  # entities by id, then latest observations


async def test_observation_pages_preload_their_entities(clean_db: Any, client: httpx.AsyncClient) -> None:
    await load(clean_db, 30)
    # `anomalies` keeps this out of the compiled form (tests/api/test_compiled.py), so the resolvers answer
    query = "{ observations(first: 200) { nodes { entityId entity { id kind } anomalies { id } } } }"
    with log_statements() as log:
        r = await client.post("/graphql", json={"query": query})
    nodes = r.json()["data"]["observations"]["nodes"]
    assert len(nodes) == 200
    assert all(n["entity"]["id"] == n["entityId"] and n["entity"]["kind"] == "vehicle" for n in nodes)
    assert len(log) == 3, log.statements  # the page, every distinct entity at once, the anomalies
