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


# --- the review's cases (issue 15) -------------------------------------------------------------------------


def without_request_ids(body: bytes) -> Any:
    """The response parsed, with the request id of masked errors (which differs per request) blanked."""
    parsed = orjson.loads(body)
    for error in parsed.get("errors", []):
        if "requestId" in error.get("extensions", {}):
            error["message"] = error["message"].replace(error["extensions"].pop("requestId"), "…")
    return parsed


def no_duplicate_keys(body: bytes) -> Any:
    """The response parsed, failing on any object with a repeated key (orjson would keep the last)."""
    import json

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return dict(items)

    return json.loads(body, object_pairs_hook=pairs)


MERGED = [
    # same response key twice: graphql-core merges the sub-selections (CollectFields)
    "{ observations(first: 50) { nodes { entity { id } entity { name } } } }",
    "{ observations(first: 50) { nodes { id ... on Observation { id time } time entity { id ... E } } } }"
    " fragment E on Entity { name id }",
    "{ entities(first: 10) { nodes { id id name observations(first: 2) { id } observations(first: 2) { time } } } }",
    "{ entities(first: 10) { nodes { ...N } } } fragment N on Entity { kind observations(first: 3) { entity { id } "
    "entity { name } } }",
    "query($no: Boolean!) { observations(first: 20) { nodes { id time @include(if: $no) lon @skip(if: $no) } } }",
]


@pytest.mark.parametrize("query", MERGED)
async def test_fields_are_merged_like_collect_fields(
    compiled: httpx.AsyncClient, resolved: httpx.AsyncClient, query: str
) -> None:
    variables = {"no": False} if "$no" in query else None
    with log_statements() as log:
        fast = await compiled.post("/graphql", json={"query": query, "variables": variables})
    slow = await resolved.post("/graphql", json={"query": query, "variables": variables})
    assert no_duplicate_keys(fast.content) == no_duplicate_keys(slow.content)
    assert "errors" not in orjson.loads(slow.content)
    assert len(log) == 1  # and it was the compiled path that answered
    if "entity {" in query and "observations(first: 50)" in query:
        node = orjson.loads(fast.content)["data"]["observations"]["nodes"][1]
        assert set(node["entity"]) == {"id", "name"}  # `id` was lost before


@pytest.fixture
async def irregular(pool: Any, data: None) -> AsyncIterator[None]:
    """Stored values the executor refuses or nulls: a NaN and an infinite altitude and speed, an observation
    without any position, and an entity without a kind (`kind: String!`; the column's NOT NULL lifted for
    the test, as a database adopted from elsewhere may have it), written behind the API's back, then removed."""
    ghost = uuid.UUID(int=999)
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE atlas4d.entities ALTER COLUMN kind DROP NOT NULL")
        await conn.execute(
            "INSERT INTO atlas4d.entities (id, kind, name) VALUES ($1, NULL, 'no kind')", ghost
        )
        await conn.execute(
            "INSERT INTO atlas4d.observations_core (t, geom, entity_id, altitude_m, speed_ms) VALUES "
            "($1, ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), $2, 'NaN', 1.5), "
            "($1 + interval '1 second', ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), $2, 'Infinity', 'NaN'), "
            "($1 + interval '2 second', NULL, $2, 10, 1), "
            "($1 + interval '3 second', ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), $3, 1, 1)",
            T0 + timedelta(days=1),
            uuid.UUID(int=1),
            ghost,
        )
    yield
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM atlas4d.observations_core WHERE t >= $1", T0 + timedelta(days=1))
        await conn.execute("DELETE FROM atlas4d.entities WHERE id = $1", ghost)
        await conn.execute("ALTER TABLE atlas4d.entities ALTER COLUMN kind SET NOT NULL")


IRREGULAR = [
    "{ observations(first: 5) { nodes { id altitude } } }",  # NaN in a nullable Float: error, null
    "{ observations(first: 5) { nodes { id speed geometry } } }",
    "{ observations(first: 5) { nodes { id lon lat } } }",  # no position: null (no error)
    "{ observations(first: 5) { nodes { geometry entity { id name } } } }",  # GeoJSON: NaN written as null
    "{ observations(first: 5) { nodes { id entity { kind } } } }",  # null in a String!: the null propagates
    '{ entities(filter: {ids: ["00000000-0000-0000-0000-000000000001"]}) { nodes { id observations(first: 4) '
    "{ id altitude speed } } } }",
    '{ entities(filter: {ids: ["00000000-0000-0000-0000-000000000001"]}) { nodes { id observations(first: 4) '
    "{ lat } } } }",
    '{ entities(filter: {ids: ["00000000-0000-0000-0000-000000000001"]}) { nodes { id observations(first: 4) '
    "{ time geometry entity { kind } } } } }",
    '{ entities(filter: {ids: ["00000000-0000-0000-0000-0000000003e7"]}) { nodes { id kind name } } }',
]


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/core/graphql"])
@pytest.mark.parametrize("query", IRREGULAR)
async def test_non_null_and_nan_answer_like_the_executor(
    compiled: httpx.AsyncClient, resolved: httpx.AsyncClient, irregular: None, query: str, path: str
) -> None:
    with log_statements() as log:
        fast = await compiled.post(path, json={"query": query})
    slow = await resolved.post(path, json={"query": query})
    assert fast.status_code == slow.status_code == 200
    assert without_request_ids(fast.content) == without_request_ids(slow.content)  # valid JSON, same answer
    assert len(log) == 1  # the one compiled statement: the executor completed its rows, nothing re-ran
    if "altitude" in query or "3e7" in query or "{ id entity { kind } }" in query:
        assert orjson.loads(fast.content)["errors"]  # the cases are real: the executor reports something


async def test_a_database_error_is_answered_not_rerun(
    settings: Settings, database_url: str, pool: Any, data: None
) -> None:
    """A statement that times out costs one statement timeout, and the answer is the resolvers' answer."""
    quick = settings.model_copy(update={"statement_timeout_ms": 300})
    queries = [
        "{ observations(first: 5) { nodes { id time } } }",
        "{ entities(first: 5) { nodes { id observations(first: 2) { id } } } }",
    ]
    answers: dict[bool, list[Any]] = {}
    for on in (True, False):
        async for client in client_for(quick, database_url, on):
            async with pool.acquire() as blocker, blocker.transaction():
                await blocker.execute(
                    "LOCK TABLE atlas4d.entities, atlas4d.observations_core IN ACCESS EXCLUSIVE MODE"
                )
                answers[on] = []
                for query in queries:
                    with log_statements() as log:
                        response = await client.post("/graphql", json={"query": query})
                    if on:
                        assert len(log) == 1, log.statements  # not re-run through the resolvers
                    answers[on].append(without_request_ids(response.content))
    assert answers[True] == answers[False]
    assert answers[True][0]["errors"][0]["extensions"]["code"] == "QUERY_TIMEOUT"
    assert answers[True][0]["data"] is None


async def test_filters_come_from_the_one_conversion(
    compiled: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled page's filter is `ObservationFilter.to_domain()`'s: a predicate added there (here one
    that holds for nothing) applies to the compiled page too — it used to have its own copy."""
    from dataclasses import replace

    from atlas4d.core.schema.inputs import ObservationFilter

    original = ObservationFilter.to_domain
    monkeypatch.setattr(ObservationFilter, "to_domain", lambda self: replace(original(self), extra=["false"]))
    query = '{ observations(filter: {sourceTypes: ["gps"]}, first: 5) { nodes { id } } }'
    with log_statements() as log:
        body = orjson.loads((await compiled.post("/graphql", json={"query": query})).content)
    assert body == {"data": {"observations": {"nodes": []}}}
    assert len(log) == 1
