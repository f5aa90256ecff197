"""Every bad input of every filter, list argument and mutation answers a typed `extensions.code`.

Never a 5xx, never a leaked SQL statement or traceback, and a failed mutation stores nothing: the rows of
every core table are counted before and after. Filters are checked before any SQL runs, so the read-only cases
need no rows; nested arguments and every mutation run against stored rows.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

LEAKS = ("Traceback", 'File "', "SELECT ", "INSERT ", "asyncpg", "observations_core", "syntax error at")
TABLES = ("entities", "observations_core", "tracks", "anomalies")
BASE = datetime(2026, 1, 1, tzinfo=UTC)
BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[27.3, 42.4], [27.6, 42.4], [27.6, 42.6], [27.3, 42.6], [27.3, 42.4]]],
}
INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
CREATE = "mutation($e: [EntityInput!]!) { createEntities(entities: $e) { id } }"
RECORD = "mutation($a: [AnomalyInput!]!) { recordAnomalies(anomalies: $a) { id } }"


# the federation gateway and the core subgraph behind it must both answer with the typed error
ENDPOINTS = ("/graphql", "/subgraphs/core/graphql")


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, path: str = "/graphql"
) -> dict[str, Any]:
    response = await client.post(path, json={"query": query, "variables": variables or {}})
    assert response.status_code < 500, response.text
    for leak in LEAKS:
        assert leak not in response.text, response.text
    body: dict[str, Any] = response.json()
    return body


def error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    ext: dict[str, Any] = body["errors"][0]["extensions"]
    return ext


async def expect(
    client: httpx.AsyncClient,
    code: str,
    query: str,
    variables: dict[str, Any] | None = None,
    paths: tuple[str, ...] = ENDPOINTS,
) -> dict[str, Any]:
    """The extensions of the first error, which has `code` on every endpoint in `paths`."""
    found = []
    for path in paths:
        body = await post(client, query, variables, path)
        ext = error(body)
        assert ext["code"] == code, (path, body)
        found.append(ext)
    return found[0]


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    return {t: await pool.fetchval(f"SELECT count(*) FROM atlas4d.{t}") for t in TABLES}


def observation(i: int, **patch: Any) -> dict[str, Any]:
    item = {
        "time": (BASE + timedelta(seconds=i)).isoformat(),
        "lon": 27.3 + (i % 100) * 0.003,
        "lat": 42.4 + (i % 50) * 0.004,
        "speed": 10.0,
        "heading": 90.0,
        "entityId": str(uuid.UUID(int=i % 7 + 1)),
        "entityKind": "vehicle",
        "trackId": str(uuid.UUID(int=1000 + i % 3)),
        "sourceType": "gps",
        "metadata": {"i": i},
    }
    return {**item, **patch}


@pytest.fixture
async def baseline(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> dict[str, Any]:
    """Some stored rows (so 'nothing stored' is checked against non-empty tables)."""
    items = [
        observation(i, entityId=str(uuid.UUID(int=99)), trackId=str(uuid.UUID(int=98))) for i in range(3)
    ]
    assert (await post(client, INGEST, {"o": items}))["data"]["ingestObservations"]["accepted"] == 3
    obs = await clean_db.fetchval("SELECT min(id) FROM atlas4d.observations_core")
    await clean_db.execute(
        "INSERT INTO atlas4d.anomalies (observation_id, anomaly_type, severity, score) VALUES ($1, 'x', 1, 0.5)",
        obs,
    )
    return {"entity": str(uuid.UUID(int=99)), "track": str(uuid.UUID(int=98)), "observation": str(obs)}


# --- filters ---------------------------------------------------------------------------------------

OBSERVATION_FILTER_CASES = [
    ("bbox-lat-inverted", {"bbox": {"minLon": 27, "minLat": 43, "maxLon": 28, "maxLat": 42}}, "BAD_BBOX"),
    ("bbox-lon-range", {"bbox": {"minLon": -200, "minLat": 0, "maxLon": 10, "maxLat": 1}}, "BAD_BBOX"),
    ("bbox-lat-range", {"bbox": {"minLon": 0, "minLat": -95, "maxLon": 10, "maxLat": 1}}, "BAD_BBOX"),
    ("within-point", {"within": {"type": "Point", "coordinates": [27.4, 42.5]}}, "BAD_GEOMETRY"),
    ("within-line", {"within": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}, "BAD_GEOMETRY"),
    ("within-bowtie", {"within": BOWTIE}, "BAD_GEOMETRY"),
    ("within-out-of-range", {"within": {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [200, 1], [0, 0]]]}},
     "BAD_GEOMETRY"),
    ("within-lat-range", {"within": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 95], [0, 0]]]}},
     "BAD_GEOMETRY"),
    ("within-empty", {"within": {"type": "Polygon", "coordinates": []}}, "BAD_GEOMETRY"),
    ("within-no-coordinates", {"within": {"type": "Polygon"}}, "BAD_GEOMETRY"),
    ("within-not-json-text", {"within": "not json at all"}, "BAD_GEOMETRY"),
    ("within-number", {"within": 42}, "BAD_GEOMETRY"),
    ("within-list", {"within": [[0, 0], [1, 1]]}, "BAD_GEOMETRY"),
    ("time-from-after-to", {"time": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}},
     "BAD_TIME_RANGE"),
    ("time-empty", {"time": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}, "BAD_TIME_RANGE"),
    ("time-last-and-from", {"time": {"last": "PT1H", "from": "2026-01-01T00:00:00Z"}}, "BAD_TIME_RANGE"),
    ("time-last-and-to", {"time": {"last": "PT1H", "to": "2026-01-01T00:00:00Z"}}, "BAD_TIME_RANGE"),
    ("time-naive-from", {"time": {"from": "2026-01-01T00:00:00"}}, "BAD_TIME_RANGE"),
    ("time-naive-to", {"time": {"to": "2026-01-01T00:00:00"}}, "BAD_TIME_RANGE"),
    ("entity-ids", {"entityIds": [str(uuid.uuid4()), "not-a-uuid"]}, "BAD_USER_INPUT"),
    ("track-ids", {"trackIds": ["42"]}, "BAD_USER_INPUT"),
    ("near-radius-zero", {"near": {"lon": 27.4, "lat": 42.5, "radiusMeters": 0}}, "BAD_USER_INPUT"),
    ("near-radius-negative", {"near": {"lon": 27.4, "lat": 42.5, "radiusMeters": -5}}, "BAD_USER_INPUT"),
    ("near-radius-huge", {"near": {"lon": 27.4, "lat": 42.5, "radiusMeters": 3e7}}, "BAD_USER_INPUT"),
    ("near-lat", {"near": {"lon": 27.4, "lat": 91, "radiusMeters": 10}}, "BAD_USER_INPUT"),
    ("near-lon", {"near": {"lon": 181, "lat": 42, "radiusMeters": 10}}, "BAD_USER_INPUT"),
    ("altitude-min-above-max", {"altitude": {"min": 100, "max": 10}}, "BAD_USER_INPUT"),
]  # fmt: skip

# Every root that takes an ObservationFilter, with `$f` as that filter.
OBSERVATION_FILTER_ROOTS = {
    "observations": "query($f: ObservationFilter!) { observations(filter: $f) { nodes { id } } }",
    "buckets": 'query($f: ObservationFilter!) { observationBuckets(interval: "PT1H", filter: $f) { count } }',
    "grid": "query($f: ObservationFilter!) { observationGrid(filter: $f, cellSize: 0.1) { count } }",
    "h3": "query($f: ObservationFilter!) { observationGrid(filter: $f, h3Resolution: 5) { count } }",
    "geojson": "query($f: ObservationFilter!) { observationsGeoJSON(filter: $f) }",
    "entities": "query($f: ObservationFilter!) { entities(filter: {observations: $f}) { nodes { id } } }",
    "anomalies": "query($f: ObservationFilter!) { anomalies(filter: {observations: $f}) { nodes { id } } }",
}


@pytest.mark.parametrize("root", list(OBSERVATION_FILTER_ROOTS))
@pytest.mark.parametrize(("flt", "code"), [c[1:] for c in OBSERVATION_FILTER_CASES],
                         ids=[c[0] for c in OBSERVATION_FILTER_CASES])  # fmt: skip
async def test_bad_observation_filter(
    client: httpx.AsyncClient, root: str, flt: dict[str, Any], code: str
) -> None:
    await expect(client, code, OBSERVATION_FILTER_ROOTS[root], {"f": flt})


TRACK_FILTER_CASES = [
    ({"ids": ["nope"]}, "BAD_USER_INPUT"),
    ({"entityIds": ["nope"]}, "BAD_USER_INPUT"),
    ({"bbox": {"minLon": 0, "minLat": 10, "maxLon": 1, "maxLat": 5}}, "BAD_BBOX"),
    ({"within": BOWTIE}, "BAD_GEOMETRY"),
    ({"within": {"type": "Point", "coordinates": [0, 0]}}, "BAD_GEOMETRY"),
    ({"near": {"lon": 27.4, "lat": 42.5, "radiusMeters": 0}}, "BAD_USER_INPUT"),
    ({"time": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}, "BAD_TIME_RANGE"),
    ({"time": {"from": "2026-01-01T00:00:00"}}, "BAD_TIME_RANGE"),
]


@pytest.mark.parametrize(("flt", "code"), TRACK_FILTER_CASES)
async def test_bad_track_filter(client: httpx.AsyncClient, flt: Any, code: str) -> None:
    await expect(client, code, "query($f: TrackFilter!) { tracks(filter: $f) { nodes { id } } }", {"f": flt})


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ('{ entities(filter: {ids: ["x"]}) { nodes { id } } }', "BAD_USER_INPUT"),
        ('{ anomalies(filter: {observationIds: ["abc"]}) { nodes { id } } }', "BAD_USER_INPUT"),
        ('{ anomalies(filter: {time: {from: "2026-01-01T00:00:00"}}) { nodes { id } } }', "BAD_TIME_RANGE"),
        ('{ anomalies(filter: {time: {last: "PT1H", to: "2026-01-01T00:00:00Z"}}) { nodes { id } } }',
         "BAD_TIME_RANGE"),
        ('{ entity(id: "not-a-uuid") { id } }', "BAD_USER_INPUT"),
        ('{ track(id: "not-a-uuid") { id } }', "BAD_USER_INPUT"),
        ("{ observationGrid(cellSize: 1, h3Resolution: 3) { count } }", "BAD_USER_INPUT"),
        ("{ observationGrid { count } }", "BAD_USER_INPUT"),
        ("{ observationGrid(cellSize: null, h3Resolution: null) { count } }", "BAD_USER_INPUT"),
        ("{ observationGrid(cellSize: 0) { count } }", "BAD_USER_INPUT"),
        ("{ observationGrid(cellSize: -1) { count } }", "BAD_USER_INPUT"),
        ("{ observationGrid(cellSize: 91) { count } }", "BAD_USER_INPUT"),
        ("{ observationGrid(h3Resolution: 16) { count } }", "BAD_USER_INPUT"),
        ("{ observationGrid(h3Resolution: -1) { count } }", "BAD_USER_INPUT"),
        ('{ observationBuckets(interval: "PT0.5S") { count } }', "BAD_USER_INPUT"),
        ("{ observationsGeoJSON(limit: -1) }", "BAD_USER_INPUT"),
        ("{ observationsGeoJSON(limit: 10001) }", "PAGE_TOO_LARGE"),
    ],
)  # fmt: skip
async def test_bad_root_argument(client: httpx.AsyncClient, query: str, code: str) -> None:
    await expect(client, code, query)


@pytest.mark.parametrize(
    ("fragment", "code"),
    [
        ("track { geometry(simplify: -1) }", "BAD_USER_INPUT"),
        ('track { positionAt(time: "2026-01-01T00:00:01") { lon } }', "BAD_USER_INPUT"),
        ("track { observations(first: 10001) { id } }", "PAGE_TOO_LARGE"),
        ("track { observations(first: -1) { id } }", "BAD_USER_INPUT"),
        ('track { observations(time: {from: "2026-01-01T00:00:00"}) { id } }', "BAD_TIME_RANGE"),
        ("entity { observations(first: 10001) { id } }", "PAGE_TOO_LARGE"),
        ("entity { tracks(first: 10001) { id } }", "PAGE_TOO_LARGE"),
        ("entity { observations(first: -1) { id } }", "BAD_USER_INPUT"),
        ('entity { tracks(time: {from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z"}) { id } }',
         "BAD_TIME_RANGE"),
    ],
)  # fmt: skip
async def test_bad_nested_argument(
    baseline: dict[str, Any], client: httpx.AsyncClient, fragment: str, code: str
) -> None:
    # two parents: three nested pages of 10,000 (the cost clamps `first` there) would be over ATLAS4D_MAX_COST
    ext = await expect(client, code, f"{{ observations(first: 2) {{ nodes {{ id {fragment} }} }} }}")
    assert ext["code"] == code


LIST_ROOTS = ("observations", "entities", "tracks", "anomalies")


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("root", LIST_ROOTS)
@pytest.mark.parametrize(("first", "code"), [(10001, "PAGE_TOO_LARGE"), (10**6, "PAGE_TOO_LARGE"),
                                             (-1, "BAD_USER_INPUT")])  # fmt: skip
async def test_bad_page_size(client: httpx.AsyncClient, root: str, first: int, code: str) -> None:
    await expect(client, code, f"{{ {root}(first: {first}) {{ nodes {{ id }} }} }}")


@pytest.mark.parametrize("root", LIST_ROOTS)
@pytest.mark.parametrize(
    "after",
    ["%%%", "not a cursor", cursor("x:1"), cursor("o:abc:def"), cursor("e:not-a-uuid"), cursor("t:1:2"),
     cursor("a:abc"), cursor("o:99999999999999999999:1"), cursor("o:0:99999999999999999999999"),
     cursor("a:99999999999999999999999")],
)  # fmt: skip
async def test_bad_cursor(client: httpx.AsyncClient, root: str, after: str) -> None:
    await expect(client, "BAD_CURSOR", f'{{ {root}(after: "{after}") {{ nodes {{ id }} }} }}')


async def test_cursor_of_another_list_is_refused(baseline: dict[str, Any], client: httpx.AsyncClient) -> None:
    body = await post(client, "{ entities(first: 1) { pageInfo { endCursor } } }")
    entity_cursor = body["data"]["entities"]["pageInfo"]["endCursor"]
    for root in ("observations", "tracks", "anomalies"):
        await expect(client, "BAD_CURSOR", f'{{ {root}(after: "{entity_cursor}") {{ nodes {{ id }} }} }}')


@pytest.mark.parametrize(
    "query",
    [
        '{ observation(id: "99999999999999999999") { id } }',
        '{ anomalies(filter: {observationIds: ["99999999999999999999"]}) { nodes { id } } }',
        '{ observations(filter: {sourceTypes: ["gps\\u0000"]}) { nodes { id } } }',
        '{ observations(filter: {kinds: ["vehicle\\u0000"]}) { nodes { id } } }',
        '{ entities(filter: {nameContains: "a\\u0000b"}) { nodes { id } } }',
        '{ tracks(filter: {sourceTypes: ["\\u0000"]}) { nodes { id } } }',
    ],
)
async def test_out_of_range_ids_and_nul_text_are_user_errors(client: httpx.AsyncClient, query: str) -> None:
    """A bigint-overflowing id or a NUL character cannot reach PostgreSQL; they are the client's error
    (or, for a lookup by id, simply nothing found)."""
    for path in ENDPOINTS:
        body = await post(client, query, path=path)
        if body.get("errors"):
            assert error(body)["code"] == "BAD_USER_INPUT", body
        else:
            assert body["data"] == {"observation": None}, body


@pytest.mark.parametrize("literal", [True, False], ids=["literal", "variable"])
@pytest.mark.parametrize(
    ("time", "code"),
    [({"last": "P1Y"}, "BAD_DURATION"), ({"last": "xx"}, "BAD_DURATION"), ({"last": "PT0S"}, "BAD_DURATION"),
     ({"last": ""}, "BAD_DURATION"), ({"from": "yesterday"}, "BAD_USER_INPUT")],
)  # fmt: skip
async def test_unparsable_scalars(
    client: httpx.AsyncClient, literal: bool, time: dict[str, str], code: str
) -> None:
    """Duration and DateTime parse errors keep a typed code whether the value is inline or a variable."""
    if literal:
        ((key, value),) = time.items()
        body = await post(
            client, f'{{ observations(filter: {{time: {{{key}: "{value}"}}}}) {{ nodes {{ id }} }} }}'
        )
        # inline values fail validation (400); the Duration scalar keeps its own code there
        allowed = {code} if code == "BAD_DURATION" else {code, "GRAPHQL_VALIDATION_FAILED"}
        assert error(body)["code"] in allowed, body
    else:
        q = "query($t: TimeFilter!) { observations(filter: {time: $t}) { nodes { id } } }"
        await expect(client, code, q, {"t": time})


# --- mutations: typed error, the item's index and field, and nothing stored -------------------------

BAD_OBSERVATIONS = [
    ("lon", {"lon": 181}), ("lon", {"lon": -180.5}), ("lat", {"lat": -91}), ("lat", {"lat": 90.01}),
    ("time", {"time": "2026-01-01T00:00:00"}), ("entityId", {"entityId": "not-a-uuid"}),
    ("trackId", {"trackId": "42"}), ("heading", {"heading": 400}), ("heading", {"heading": -1}),
    ("speed", {"speed": -1}), ("altitude", {"altitude": -20000}), ("metadata", {"metadata": [1, 2]}),
    ("metadata", {"metadata": "text"}), ("metadata", {"metadata": 5}), ("entityKind", {"entityKind": ""}),
    ("entityKind", {"entityKind": "   "}),
]  # fmt: skip
# (batch size, bad index): the INSERT path (< copy_threshold) and the COPY path (>= copy_threshold)
PATHS = [pytest.param(4, 2, id="insert"), pytest.param(250, 237, id="copy")]


@pytest.mark.parametrize(("size", "bad"), PATHS)
@pytest.mark.parametrize(("field", "patch"), BAD_OBSERVATIONS, ids=[f"{f}={p}" for f, p in BAD_OBSERVATIONS])
async def test_bad_observation_item_stores_nothing(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool,
    size: int, bad: int, field: str, patch: dict[str, Any],
) -> None:  # fmt: skip
    before = await counts(clean_db)
    items = [observation(i, **(patch if i == bad else {})) for i in range(size)]
    ext = await expect(client, "INVALID_ITEM", INGEST, {"o": items})
    assert (ext["index"], ext["field"]) == (bad, field)
    assert await counts(clean_db) == before


@pytest.mark.parametrize(("field", "patch"), [("lon", {"lon": 181}), ("time", {"time": "2026-01-01T00:00:00"}),
                                            ("metadata", {"metadata": [1]})])  # fmt: skip
async def test_large_batch_names_the_one_bad_item(
    baseline: dict[str, Any],
    client: httpx.AsyncClient,
    clean_db: asyncpg.Pool,
    field: str,
    patch: dict[str, Any],
) -> None:
    before = await counts(clean_db)
    items = [observation(i, **(patch if i == 4321 else {})) for i in range(5000)]
    body = await post(client, INGEST, {"o": items})
    ext = error(body)
    assert (ext["code"], ext["index"], ext["field"], ext["invalidCount"]) == ("INVALID_ITEM", 4321, field, 1)
    assert f"[4321].{field}" in body["errors"][0]["message"]
    assert await counts(clean_db) == before


@pytest.mark.parametrize(("size", "bad"), PATHS)
@pytest.mark.parametrize(
    ("field", "patch"),
    [("sourceType", {"sourceType": "gps\u0000"}), ("metadata", {"metadata": {"note": "a\u0000b"}}),
     ("entityKind", {"entityKind": "vehicle\u0000", "entityId": str(uuid.uuid4())})],
)  # fmt: skip
async def test_item_the_database_refuses_is_typed_and_stores_nothing(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool,
    size: int, bad: int, field: str, patch: dict[str, Any],
) -> None:  # fmt: skip
    """Text PostgreSQL cannot store (NUL) is valid JSON; it must still be the client's error, naming the item."""
    before = await counts(clean_db)
    items = [observation(i, **(patch if i == bad else {})) for i in range(size)]
    for path in ENDPOINTS:
        body = await post(client, INGEST, {"o": items}, path)
        assert await counts(clean_db) == before
        ext = error(body)
        assert ext["code"] in ("INVALID_ITEM", "BAD_USER_INPUT"), body
        assert (ext.get("index"), ext.get("field")) == (bad, field), body


@pytest.mark.parametrize(
    ("patch", "literal"),
    [({"time": "yesterday"}, 'time: "yesterday", lon: 1, lat: 1'), ({"lon": "abc"}, 'time: "2026-01-01T00:00:00Z", '
     'lon: "abc", lat: 1'), ({"lat": None}, 'time: "2026-01-01T00:00:00Z", lon: 1, lat: null')],
)  # fmt: skip
async def test_uncoercible_observation_values(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool, patch: Any, literal: str
) -> None:
    before = await counts(clean_db)
    await expect(client, "BAD_USER_INPUT", INGEST, {"o": [observation(0), observation(1, **patch)]})
    body = await post(
        client, f"mutation {{ ingestObservations(observations: [{{{literal}}}]) {{ accepted }} }}"
    )
    assert error(body)["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await counts(clean_db) == before


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (INGEST, {"o": [observation(i) for i in range(10_001)]}),
        (CREATE, {"e": [{"kind": "vehicle"} for _ in range(10_001)]}),
        (RECORD, {"a": [{"observationId": "1", "anomalyType": "x", "severity": 1, "score": 0.1}] * 10_001}),
    ],
    ids=["ingestObservations", "createEntities", "recordAnomalies"],
)
async def test_batch_too_large(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool, query: str, variables: Any
) -> None:
    before = await counts(clean_db)
    await expect(client, "BATCH_TOO_LARGE", query, variables, paths=("/graphql",))
    assert await counts(clean_db) == before


@pytest.mark.parametrize(
    ("field", "patch"),
    [("kind", {"kind": ""}), ("kind", {"kind": "  "}), ("id", {"id": "not-a-uuid"}), ("properties", {"properties": [1]}),
     ("properties", {"properties": "x"}), ("id", {"id": str(uuid.UUID(int=7))})],
)  # fmt: skip
async def test_bad_entity_item_stores_nothing(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool, field: str, patch: Any
) -> None:
    before = await counts(clean_db)
    items = [{"kind": "olt", "id": str(uuid.UUID(int=7))}, {"kind": "switch"}, {"kind": "cpe", **patch}]
    ext = await expect(client, "INVALID_ITEM", CREATE, {"e": items})
    assert (ext["index"], ext["field"]) == (2, field)
    assert await counts(clean_db) == before


async def test_entity_with_nul_text_is_typed(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool
) -> None:
    before = await counts(clean_db)
    for path in ENDPOINTS:
        body = await post(client, CREATE, {"e": [{"kind": "olt"}, {"kind": "cpe", "name": "a\u0000"}]}, path)
        assert error(body)["code"] in ("INVALID_ITEM", "BAD_USER_INPUT"), body
    assert await counts(clean_db) == before


async def test_duplicate_entity_is_conflict_and_stores_nothing(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool
) -> None:
    before = await counts(clean_db)
    items = [{"kind": "olt"}, {"kind": "switch"}, {"kind": "cpe", "id": baseline["entity"]}, {"kind": "cpe"}]
    ext = await expect(client, "CONFLICT", CREATE, {"e": items})
    assert (ext["index"], ext["field"]) == (2, "id")
    assert await counts(clean_db) == before
    explicit = await expect(client, "CONFLICT", CREATE.replace("$e)", "$e, onConflict: ERROR)"), {"e": items})
    assert explicit["index"] == 2


@pytest.mark.parametrize(
    ("field", "patch"),
    [("observationId", {"observationId": "abc"}), ("observationId", {"observationId": "987654321"}),
     ("observationId", {"observationId": "99999999999999999999"}), ("severity", {"severity": 0}),
     ("severity", {"severity": 6}), ("score", {"score": -0.1}), ("score", {"score": 1.5}),
     ("anomalyType", {"anomalyType": " "}), ("detectedAt", {"detectedAt": "2026-01-01T00:00:00"})],
)  # fmt: skip
async def test_bad_anomaly_item_stores_nothing(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool, field: str, patch: Any
) -> None:
    before = await counts(clean_db)
    good = {"observationId": baseline["observation"], "anomalyType": "speeding", "severity": 3, "score": 0.7}
    ext = await expect(client, "INVALID_ITEM", RECORD, {"a": [good, good, {**good, **patch}]})
    assert (ext["index"], ext["field"]) == (2, field)
    assert await counts(clean_db) == before


# --- values at the edges of what Python and PostgreSQL can represent --------------------------------

EDGE_OF_TIME = "0001-01-01T00:00:00+05:00"  # valid RFC 3339; in UTC it falls in year 0


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        (f'{{ observations(filter: {{time: {{from: "{EDGE_OF_TIME}"}}}}) {{ nodes {{ id }} }} }}', {"BAD_TIME_RANGE"}),
        (f'{{ anomalies(filter: {{time: {{to: "{EDGE_OF_TIME}"}}}}) {{ nodes {{ id }} }} }}', {"BAD_TIME_RANGE"}),
        ('{ observations(filter: {time: {last: "P5000000W"}}) { nodes { id } } }', {"BAD_DURATION", "BAD_TIME_RANGE"}),
        ('{ observations(filter: {time: {last: "PT100000000000000000000S"}}) { nodes { id } } }', {"BAD_DURATION"}),
        ('{ observationBuckets(interval: "P1000000000D") { count } }', {"BAD_DURATION"}),
        ('{ observationBuckets(interval: "P3000000D") { start end count } }', {"BAD_DURATION", "BAD_USER_INPUT"}),
    ],
    ids=["from-year-0", "anomaly-to-year-0", "last-before-year-1", "last-overflows-timedelta",
         "interval-overflows-timedelta", "bucket-end-after-year-9999"],
)  # fmt: skip
async def test_out_of_range_times_and_durations(
    baseline: dict[str, Any], client: httpx.AsyncClient, query: str, codes: set[str]
) -> None:
    """Overflowing datetime arithmetic is the client's error, not an INTERNAL one."""
    for path in ENDPOINTS:
        body = await post(client, query, path=path)
        if "errors" in body:
            assert error(body)["code"] in codes, (path, body)


async def test_ingest_time_outside_the_representable_range(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool
) -> None:
    before = await counts(clean_db)
    items = [observation(0), observation(1, time=EDGE_OF_TIME)]
    for path in ENDPOINTS:
        body = await post(client, INGEST, {"o": items}, path)
        ext = error(body)
        assert (ext["code"], ext.get("index"), ext.get("field")) == ("INVALID_ITEM", 1, "time"), (path, body)
    assert await counts(clean_db) == before


def nested_object(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


JSON_FIELDS = {  # mutation: (list argument, a valid item as a literal, JSON field, selection)
    "ingestObservations": ("observations", 'time: "2026-01-01T00:00:00Z", lon: 27.5, lat: 42.5', "metadata",
                           "accepted"),
    "createEntities": ("entities", 'kind: "olt"', "properties", "id"),
    "recordAnomalies": ("anomalies", 'observationId: "OBS", anomalyType: "x", severity: 1, score: 0.5', "metadata",
                        "id"),
}  # fmt: skip


@pytest.mark.parametrize("shape", ["deep", "huge-int"])
@pytest.mark.parametrize("mutation", list(JSON_FIELDS))
async def test_json_the_encoder_cannot_store_is_an_item_error(
    baseline: dict[str, Any], client: httpx.AsyncClient, clean_db: asyncpg.Pool, mutation: str, shape: str
) -> None:
    """metadata/properties nested 300 deep, or with an integer beyond 64 bits (an inline literal keeps it
    exact), are JSON objects the jsonb encoder refuses: the item's error, not INTERNAL. (Nested 300 deep, the
    variables are now refused before anything runs, over ATLAS4D_MAX_INPUT_DEPTH: BAD_USER_INPUT.)"""
    before = await counts(clean_db)
    argument, item, field, selection = JSON_FIELDS[mutation]
    item = item.replace("OBS", baseline["observation"])
    value = "$v" if shape == "deep" else "{big: 123456789012345678901234567890}"
    declared = "($v: JSON)" if shape == "deep" else ""
    query = (
        f"mutation{declared} {{ {mutation}({argument}: [{{{item}}}, {{{item}, {field}: {value}}}]) "
        f"{{ {selection} }} }}"
    )
    for path in ENDPOINTS:
        body = await post(client, query, {"v": nested_object(300)} if shape == "deep" else {}, path)
        ext = error(body)
        expected = ("BAD_USER_INPUT", None, None) if shape == "deep" else ("INVALID_ITEM", 1, field)
        assert (ext["code"], ext.get("index"), ext.get("field")) == expected, (path, body)
    assert await counts(clean_db) == before
