"""The compiled observation pages (JSON built by PostgreSQL) answer exactly what the resolvers answer: the
same JSON values, keys in the same order, times formatted alike; anything outside the compiled form falls
back to the resolvers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from atlas4d.app import create_app
from atlas4d.core.ingest import ObservationItem, ingest_observations
from atlas4d.db.pool import log_statements
from atlas4d.settings import Settings

T0 = datetime(2026, 6, 1, tzinfo=UTC)

CORPUS = [
    "{ observations(first: 300) { nodes { id time lon lat speed } } }",
    "{ observations(first: 300, orderBy: TIME_ASC) { nodes { id time geometry entity { name kind } } } }",
    '{ o: observations(filter: {bbox: {minLon: 27.4, minLat: 42.4, maxLon: 27.6, maxLat: 42.6}, kinds: ["bus"]})'
    " { n: nodes { __typename a: id altitude heading sourceType entityId trackId metadata e: entity { id __typename"
    " sourceType properties } } } }",
    '{ observations(filter: {near: {lon: 27.5, lat: 42.5, radiusMeters: 20000}, time: {from: "2026-06-01T00:10:00Z",'
    ' to: "2026-06-01T00:40:00Z"}}, first: 1000) { nodes { id time } } }',
    '{ observations(filter: {altitude: {min: 100}, sourceTypes: ["gps"]}, first: 5) { nodes { id altitude } } }',
    "{ entities(first: 20) { nodes { id name observations(first: 10) { id time lon lat } } } }",
    '{ e: entities(filter: {kinds: ["bus"]}, first: 5) { n: nodes { kind createdAt sourceType properties'
    ' o: observations(first: 3, orderBy: TIME_ASC, time: {from: "2026-06-01T00:05:00Z"}) { id time geometry'
    " entity { id } } } } }",
    "{ observations(first: 100) { nodes { id entityId entity { id name } } } }",
    '{ entities(first: 40) { nodes { id none: observations(time: {from: "2030-01-01T00:00:00Z"}) { id } } } }',
    "{ entities(first: 40) { nodes { observations(first: 2, orderBy: TIME_ASC) { id metadata } name } } }",
    "{ entities(filter: {observations: {bbox: {minLon: 27.4, minLat: 42.4, maxLon: 27.5, maxLat: 42.5}}}) { nodes { id } } }",
]
# outside the compiled form: answered by the resolvers (still correct, checked against the other app)
NOT_COMPILED = [
    "{ observations(first: 5) { nodes { id } pageInfo { hasNextPage } } }",
    "{ observations(first: 5) { nodes { id anomalies { id } } } }",
    "{ observations(first: 5) { nodes { id ... on Observation { time } } } }",
    "query($s: Boolean!) { observations(first: 5) { nodes { id time @skip(if: $s) } } }",
    "{ observations(first: 5) { nodes { id } } entities(first: 1) { nodes { id } } }",
    "{ entities(first: 3) { nodes { id latestObservation { id } } } }",
    "{ entities(first: 3) { nodes { id observations(first: 2) { id anomalies { id } } } } }",
]


@pytest.fixture(scope="module")
async def data(pool: Any) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks, atlas4d.anomalies"
        )
    items = []
    for i in range(900):
        ent = uuid.UUID(int=i % 30 + 1)
        items.append(
            ObservationItem(
                time=T0 + timedelta(seconds=i * 3, microseconds=(i * 7919) % 1_000_000 if i % 4 else 0),
                lon=27.4 + (i % 97) * 0.003, lat=42.4 + (i % 89) * 0.003,
                altitude=None if i % 5 == 0 else float(i % 7 * 50), speed=float(i % 11), heading=float(i % 360),
                source_type="gps" if i % 2 else "ais", entity_id=None if i % 13 == 0 else str(ent), entity_kind="bus" if i % 3 else "car",
                track_id=str(uuid.UUID(int=i % 30 + 1000)), metadata={"n": i, "k": "v"} if i % 6 == 0 else None,
            )
        )  # fmt: skip
    await ingest_observations(pool, items, max_batch=10_000, copy_threshold=200)


async def client_for(
    settings: Settings, database_url: str, compiled: bool
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"compiled_queries": compiled}), dsn=database_url, modules=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        yield c


@pytest.fixture(scope="module")
async def compiled(settings: Settings, database_url: str, data: None) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(settings, database_url, True):
        yield c


@pytest.fixture(scope="module")
async def resolved(settings: Settings, database_url: str, data: None) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(settings, database_url, False):
        yield c


async def answer(client: httpx.AsyncClient, query: str, path: str = "/graphql") -> tuple[bytes, int]:
    variables = {"s": True} if "$s" in query else None
    with log_statements() as log:
        r = await client.post(path, json={"query": query, "variables": variables})
    assert r.status_code == 200, r.text
    return r.content, len(log)


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/core/graphql"])
@pytest.mark.parametrize("query", CORPUS)
async def test_compiled_equals_resolved(
    compiled: httpx.AsyncClient, resolved: httpx.AsyncClient, query: str, path: str
) -> None:
    fast, statements = await answer(compiled, query, path)
    slow, _ = await answer(resolved, query, path)
    assert "errors" not in orjson.loads(slow)
    assert orjson.loads(fast) == orjson.loads(slow)
    if "observations(" in query.split("{", 2)[1]:
        assert fast == slow  # observation pages are built in Python from the same values: byte-identical
    else:  # entity pages are JSON text from PostgreSQL: same values, keys in the same order
        assert _keys(orjson.loads(fast)) == _keys(orjson.loads(slow))
    assert statements == 1  # the compiled path answered: one statement, entity included
    body = orjson.loads(fast)["data"]
    assert all(next(iter(page.values())) for page in body.values())  # non-empty pages


@pytest.mark.parametrize("query", NOT_COMPILED)
async def test_other_shapes_fall_back(
    compiled: httpx.AsyncClient, resolved: httpx.AsyncClient, query: str
) -> None:
    fast, _ = await answer(compiled, query)
    slow, _ = await answer(resolved, query)
    assert fast == slow


async def test_bad_filters_are_reported_by_the_resolvers(compiled: httpx.AsyncClient) -> None:
    query = (
        "{ observations(filter: {bbox: {minLon: 27, minLat: 43, maxLon: 28, maxLat: 42}}) { nodes { id } } }"
    )
    body = orjson.loads((await compiled.post("/graphql", json={"query": query})).content)
    assert body["errors"][0]["extensions"]["code"] == "BAD_BBOX"


def _keys(value: Any) -> Any:
    """The keys of every object, in order (dict equality ignores order; the text of keys does not)."""
    if isinstance(value, dict):
        return [(k, _keys(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_keys(v) for v in value]
    return None
