"""Ingest through GraphQL on real PostGIS: exact round trips, the entity auto-create rule, tracks kept up
to date, entity conflict policies, anomalies, and the COPY and INSERT paths storing identical rows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from atlas4d.db.pool import log_statements

INGEST = (
    "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) "
    "{ accepted entitiesCreated tracksUpdated } }"
)
NO_CREATE = (
    "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o, autoCreateEntities: false) "
    "{ accepted } }"
)
CREATE = (
    "mutation($e: [EntityInput!]!, $p: ConflictPolicy!) { createEntities(entities: $e, onConflict: $p) "
    "{ id kind name sourceType properties createdAt } }"
)
OBS_FIELDS = "id time lon lat altitude speed heading sourceType entityId trackId metadata"
GEOD = Geod(ellps="WGS84")
BASE = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TABLES = "atlas4d.observations_core, atlas4d.entities, atlas4d.anomalies, atlas4d.tracks"


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def gql_error(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    ext: dict[str, Any] = response.json()["errors"][0]["extensions"]
    return ext


def item(i: int, entity: uuid.UUID, track: uuid.UUID | None = None, **extra: Any) -> dict[str, Any]:
    out = {
        "time": (BASE + timedelta(seconds=30 * i)).isoformat(),
        "lon": 27.40 + 0.001 * i,
        "lat": 42.50 + 0.0007 * i,
        "entityId": str(entity),
        "trackId": str(track) if track else None,
    }
    return {**out, **extra}


def as_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_round_trip_exact_values(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    entity, track = uuid.uuid4(), uuid.uuid4()
    sofia = timezone(timedelta(hours=2))
    items = [
        {"time": datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=sofia).isoformat(), "lon": 27.467123456789,
         "lat": 42.504987654321, "altitude": 12.5, "speed": 13.89, "heading": 359.75, "sourceType": "gps",
         "entityId": str(entity), "entityKind": "vehicle", "trackId": str(track),
         "metadata": {"plate": "A 1234 BC", "tags": ["bus", 7], "nested": {"ok": True, "v": None}}},
        {"time": "2026-03-01T08:00:30Z", "lon": -180.0, "lat": 90.0, "heading": 0, "speed": 0,
         "entityId": str(entity), "trackId": str(track)},
        {"time": "2026-03-01T08:01:00+00:00", "lon": 180.0, "lat": -89.0, "altitude": -10.0,
         "entityId": str(entity), "trackId": str(track), "metadata": {}},
    ]  # fmt: skip
    result = await gql(client, INGEST, {"o": items})
    assert result["ingestObservations"] == {"accepted": 3, "entitiesCreated": 1, "tracksUpdated": 1}

    data = await gql(
        client,
        f"query($e: ID!, $t: ID!) {{ entity(id: $e) {{ kind sourceType observations(orderBy: TIME_ASC) "
        f"{{ {OBS_FIELDS} }} latestObservation {{ time lon }} }} track(id: $t) {{ observations {{ {OBS_FIELDS} }} }} "
        f"observations(filter: {{entityIds: [$e]}}, orderBy: TIME_ASC) {{ nodes {{ {OBS_FIELDS} }} }} }}",
        {"e": str(entity), "t": str(track)},
    )
    assert data["entity"]["kind"] == "vehicle" and data["entity"]["sourceType"] == "gps"
    read = data["entity"]["observations"]
    assert read == data["track"]["observations"] == data["observations"]["nodes"]
    assert [as_time(o["time"]) for o in read] == [as_time(i["time"]) for i in items]
    for got, sent in zip(read, items, strict=True):
        for key in ("lon", "lat", "altitude", "speed", "heading", "sourceType", "metadata"):
            assert got[key] == sent.get(key), key
        assert (got["entityId"], got["trackId"]) == (str(entity), str(track))
    assert read[0]["metadata"]["nested"] == {"ok": True, "v": None}
    assert as_time(data["entity"]["latestObservation"]["time"]) == as_time(items[2]["time"])
    observation = await gql(client, f'{{ observation(id: "{read[0]["id"]}") {{ {OBS_FIELDS} }} }}')
    assert observation["observation"] == read[0]


finite = {"allow_nan": False, "allow_infinity": False}
observation_items = st.fixed_dictionaries(
    {
        "time": st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
        "lon": st.floats(-180, 180, **finite),
        "lat": st.floats(-90, 90, **finite),
    },
    optional={
        "altitude": st.floats(-12_000, 1_000_000, **finite),
        "speed": st.floats(0, 1e5, **finite),
        "heading": st.floats(0, 360, **finite),
        "sourceType": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
        "metadata": st.dictionaries(
            st.text(max_size=5).filter(lambda s: "\x00" not in s), st.integers(-99, 99)
        ),
    },
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(observation_items, min_size=1, max_size=12))
async def test_round_trip_random_values(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, batch: list[dict[str, Any]]
) -> None:
    await clean_db.execute(f"TRUNCATE {TABLES}")
    sent = [{**b, "time": b["time"].isoformat()} for b in batch]
    assert (await gql(client, INGEST, {"o": sent}))["ingestObservations"]["accepted"] == len(sent)
    data = await gql(
        client, f"{{ observations(first: 100, orderBy: TIME_ASC) {{ nodes {{ {OBS_FIELDS} }} }} }}"
    )
    got = sorted(data["observations"]["nodes"], key=lambda o: int(o["id"]))
    assert len(got) == len(sent)
    for g, s in zip(got, sent, strict=True):
        assert as_time(g["time"]) == as_time(s["time"])
        assert (g["lon"], g["lat"]) == (s["lon"], s["lat"])
        for key in ("altitude", "speed", "heading", "sourceType", "metadata"):
            assert g[key] == s.get(key), key


async def test_unknown_entities_are_created_with_their_kind(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    known, kinded, plain = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await gql(client, CREATE, {"e": [{"id": str(known), "kind": "olt", "name": "OLT-1"}], "p": "ERROR"})
    items = [
        item(0, known, entityKind="ignored-for-existing", sourceType="telemetry"),
        item(1, kinded, entityKind="vehicle", sourceType="gps"),
        item(2, kinded, entityKind="vehicle"),
        item(3, plain),
    ]
    result = await gql(client, INGEST, {"o": items})
    assert result["ingestObservations"]["entitiesCreated"] == 2
    rows = {
        r["id"]: r for r in await clean_db.fetch("SELECT id, kind, name, source_type FROM atlas4d.entities")
    }
    assert set(rows) == {known, kinded, plain}
    assert (rows[known]["kind"], rows[known]["name"]) == ("olt", "OLT-1")
    assert (rows[kinded]["kind"], rows[kinded]["source_type"]) == ("vehicle", "gps")
    assert (rows[plain]["kind"], rows[plain]["source_type"]) == ("unknown", None)
    again = await gql(client, INGEST, {"o": [item(9, plain, entityKind="vehicle")]})
    assert again["ingestObservations"]["entitiesCreated"] == 0
    assert await clean_db.fetchval("SELECT kind FROM atlas4d.entities WHERE id = $1", plain) == "unknown"


@pytest.mark.parametrize("size", [5, 300], ids=["insert", "copy"])
async def test_auto_create_off_refuses_unknown_entity(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, size: int
) -> None:
    known, unknown = uuid.uuid4(), uuid.uuid4()
    await gql(client, CREATE, {"e": [{"id": str(known), "kind": "vehicle"}], "p": "ERROR"})
    bad = size - 2
    items = [item(i, unknown if i >= bad else known, uuid.UUID(int=5)) for i in range(size)]
    ext = await gql_error(client, NO_CREATE, {"o": items})
    assert (ext["code"], ext["index"], ext["field"]) == ("INVALID_ITEM", bad, "entityId")
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 1
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.tracks") == 0
    accepted = await gql(client, NO_CREATE, {"o": items[:bad]})
    assert accepted["ingestObservations"]["accepted"] == bad


@pytest.mark.parametrize(
    "points",
    [[(27.467, 42.505), (-180.0, 90.0), (180.0, -90.0)], [(0.0, 0.0), (10.0, 0.0), (-170.0, 0.0)]],
    ids=["pole-to-pole", "equator"],
)
async def test_track_with_antipodal_step_is_stored(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, points: list[tuple[float, float]]
) -> None:
    """Valid coordinates whose consecutive points are antipodal still make a track with a geodesic length."""
    track = uuid.uuid4()
    items = [item(i, uuid.uuid4(), track, lon=lon, lat=lat) for i, (lon, lat) in enumerate(points)]
    response = await client.post("/graphql", json={"query": INGEST, "variables": {"o": items}})
    assert "errors" not in response.json(), response.text
    got = await gql(client, "query($t: ID!) { track(id: $t) { lengthMeters } }", {"t": str(track)})
    assert got["track"]["lengthMeters"] == pytest.approx(geodesic_length(points), rel=1e-3)


def geodesic_length(points: list[tuple[float, float]]) -> float:
    lons, lats = zip(*points, strict=True)
    return float(GEOD.line_length(lons, lats))


async def test_tracks_are_refreshed_by_ingest(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    entity, track, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = [item(i, entity, track) for i in (0, 2, 4, 6)] + [item(i, entity, other) for i in (1, 3)]
    result = await gql(client, INGEST, {"o": first})
    assert result["ingestObservations"]["tracksUpdated"] == 2
    # a second batch extends the track at both ends and fills a gap (out of time order)
    second = [item(8, entity, track, lon=27.6, lat=42.45), item(-3, entity, track), item(5, entity, track)]
    result = await gql(client, INGEST, {"o": second})
    assert result["ingestObservations"]["tracksUpdated"] == 1
    every = sorted(first[:4] + second, key=lambda o: o["time"])
    query = "query($t: ID!) { track(id: $t) { entityId pointCount lengthMeters startTime endTime duration } }"
    got = (await gql(client, query, {"t": str(track)}))["track"]
    assert got["entityId"] == str(entity)
    assert got["pointCount"] == 7
    assert as_time(got["startTime"]) == as_time(every[0]["time"])
    assert as_time(got["endTime"]) == as_time(every[-1]["time"])
    assert got["duration"] == "PT5M30S"
    expected = geodesic_length([(o["lon"], o["lat"]) for o in every])
    assert got["lengthMeters"] == pytest.approx(expected, rel=1e-3)
    short = (await gql(client, query, {"t": str(other)}))["track"]
    assert short["pointCount"] == 2
    assert short["lengthMeters"] == pytest.approx(
        geodesic_length([(o["lon"], o["lat"]) for o in first[4:]]), rel=1e-3
    )


async def test_create_entities_conflict_policies(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    a = str(uuid.uuid4())
    first = [
        {"id": a, "kind": "olt", "name": "OLT-1", "properties": {"ports": 16}},
        {"kind": "switch", "sourceType": "snmp"},
    ]
    created = (await gql(client, CREATE, {"e": first, "p": "ERROR"}))["createEntities"]
    assert created[0] == {**created[0], "id": a, "kind": "olt", "name": "OLT-1", "properties": {"ports": 16}}
    assert (
        uuid.UUID(created[1]["id"]) and created[1]["properties"] == {} and created[1]["sourceType"] == "snmp"
    )
    assert as_time(created[0]["createdAt"]).tzinfo is not None

    ext = await gql_error(client, CREATE, {"e": [{"kind": "cpe"}, {"id": a, "kind": "cpe"}], "p": "ERROR"})
    assert (ext["code"], ext["index"]) == ("CONFLICT", 1)
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 2

    new = str(uuid.uuid4())
    skipped = await gql(
        client, CREATE, {"e": [{"id": a, "kind": "cpe"}, {"id": new, "kind": "cpe"}], "p": "SKIP"}
    )
    assert [e["kind"] for e in skipped["createEntities"]] == ["olt", "cpe"]
    row = await clean_db.fetchrow(
        "SELECT kind, name, properties FROM atlas4d.entities WHERE id = $1", uuid.UUID(a)
    )
    assert (row["kind"], row["name"], row["properties"]) == ("olt", "OLT-1", {"ports": 16})

    updated = await gql(
        client,
        CREATE,
        {"e": [{"id": a, "kind": "switch", "name": "SW-9", "properties": {"ports": 48}}], "p": "UPDATE"},
    )
    assert updated["createEntities"][0] == {**updated["createEntities"][0], "kind": "switch", "name": "SW-9",
                                            "properties": {"ports": 48}}  # fmt: skip
    row = await clean_db.fetchrow(
        "SELECT kind, name, properties FROM atlas4d.entities WHERE id = $1", uuid.UUID(a)
    )
    assert (row["kind"], row["name"], row["properties"]) == ("switch", "SW-9", {"ports": 48})
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 3
    # UPDATE replaces the entity by the item (omitted fields are cleared); createdAt is kept
    bare = (await gql(client, CREATE, {"e": [{"id": a, "kind": "olt"}], "p": "UPDATE"}))["createEntities"][0]
    assert (bare["kind"], bare["name"], bare["sourceType"], bare["properties"]) == ("olt", None, None, {})
    assert bare["createdAt"] == created[0]["createdAt"]


RECORD = (
    "mutation($a: [AnomalyInput!]!) { recordAnomalies(anomalies: $a) "
    "{ id observationId anomalyType severity score detectedAt metadata observation { id } } }"
)


async def test_record_anomalies(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    await gql(client, INGEST, {"o": [item(i, uuid.uuid4()) for i in range(2)]})
    ids = [str(r["id"]) for r in await clean_db.fetch("SELECT id FROM atlas4d.observations_core ORDER BY id")]
    anomalies = [
        {"observationId": ids[0], "anomalyType": "los", "severity": 5, "score": 0.99,
         "detectedAt": "2026-03-01T09:00:00+00:00", "metadata": {"port": 3}},
        {"observationId": ids[1], "anomalyType": "high_latency", "severity": 1, "score": 0.0},
    ]  # fmt: skip
    recorded = (await gql(client, RECORD, {"a": anomalies}))["recordAnomalies"]
    assert [(a["observationId"], a["anomalyType"], a["severity"], a["score"]) for a in recorded] == [
        (ids[0], "los", 5, 0.99), (ids[1], "high_latency", 1, 0.0)]  # fmt: skip
    assert as_time(recorded[0]["detectedAt"]) == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert recorded[0]["metadata"] == {"port": 3} and recorded[1]["observation"] == {"id": ids[1]}
    nested = await gql(client, f'{{ observation(id: "{ids[0]}") {{ anomalies {{ id anomalyType }} }} }}')
    assert nested["observation"]["anomalies"] == [{"id": recorded[0]["id"], "anomalyType": "los"}]

    missing = str(int(ids[1]) + 1000)
    ext = await gql_error(client, RECORD, {"a": [anomalies[1], {**anomalies[0], "observationId": missing}]})
    assert (ext["code"], ext["index"], ext["field"]) == ("INVALID_ITEM", 1, "observationId")
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.anomalies") == 2


ROW_SQL = (
    "SELECT t, ST_AsEWKB(geom) AS geom, source_type, track_id, entity_id, lat, lon, altitude_m, speed_ms, "
    "heading_deg, metadata FROM atlas4d.observations_core ORDER BY t, lon, lat"
)
TRACK_SQL = (
    "SELECT id, entity_id, source_type, start_time, end_time, point_count, length_m, ST_AsEWKB(geom) AS geom "
    "FROM atlas4d.tracks ORDER BY id"
)


def varied(i: int) -> dict[str, Any]:
    """Items exercising every column, with nulls and non-ASCII text."""
    track = uuid.UUID(int=i % 4 + 1)
    out: dict[str, Any] = item(i, uuid.UUID(int=100 + i % 9), track if i % 5 else None)
    if i % 2:
        out |= {"altitude": i * 0.25, "speed": i / 7, "heading": (i * 37) % 360}
    if i % 3:
        out |= {"sourceType": ["gps", "ais", "Бургас"][i % 3], "metadata": {"i": i, "s": "é" * (i % 4)}}
    if i % 7 == 0:
        out |= {"entityKind": "vehicle"}
    return out


async def test_copy_and_insert_paths_store_identical_rows(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    items = [varied(i) for i in range(300)]
    for chunk in (items[:150], items[150:]):  # below copy_threshold: INSERT ... unnest
        assert (await gql(client, INGEST, {"o": chunk}))["ingestObservations"]["accepted"] == 150
    inserted = [dict(r) for r in await clean_db.fetch(ROW_SQL)]
    inserted_tracks = [dict(r) for r in await clean_db.fetch(TRACK_SQL)]
    inserted_entities = [
        dict(r)
        for r in await clean_db.fetch("SELECT id, kind, source_type FROM atlas4d.entities ORDER BY id")
    ]

    await clean_db.execute(f"TRUNCATE {TABLES}")
    assert (await gql(client, INGEST, {"o": items}))["ingestObservations"]["accepted"] == 300  # COPY
    copied = [dict(r) for r in await clean_db.fetch(ROW_SQL)]
    assert len(copied) == 300
    assert copied == inserted
    assert [dict(r) for r in await clean_db.fetch(TRACK_SQL)] == inserted_tracks
    assert [
        dict(r)
        for r in await clean_db.fetch("SELECT id, kind, source_type FROM atlas4d.entities ORDER BY id")
    ] == (inserted_entities)


@pytest.mark.parametrize(("size", "copy"), [(10, False), (199, False), (200, True), (3000, True)])
async def test_a_batch_is_a_fixed_number_of_statements(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, size: int, copy: bool
) -> None:
    """Whatever its size, a batch is one transaction of a few statements (never one per item); from
    copy_threshold (200) on, observations go through COPY instead of INSERT."""
    items = [varied(i) for i in range(size)]
    with log_statements() as log:
        assert (await gql(client, INGEST, {"o": items}))["ingestObservations"]["accepted"] == size
    inserts = [s for s in log.statements if s.startswith("INSERT INTO atlas4d.observations_core")]
    assert len(inserts) == (0 if copy else 1), log.statements
    assert len(log.statements) <= 5, log.statements
    assert log.statements[0].startswith("BEGIN") and log.statements[-1].startswith("COMMIT")
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == size


@pytest.mark.parametrize("size", [5, 300], ids=["insert", "copy"])
async def test_concurrent_batches_on_one_track_keep_it_whole(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, size: int
) -> None:
    """Eight batches extending the same track at once: the track ends up describing all their observations
    (each refresh must see the others' committed rows, not overwrite them with a stale aggregate)."""
    track = uuid.uuid4()

    async def batch(k: int) -> None:
        items = [item(k * 1000 + i, uuid.UUID(int=k + 1), track) for i in range(size)]
        assert (await gql(client, INGEST, {"o": items}))["ingestObservations"]["accepted"] == size

    for _ in range(3):
        await asyncio.gather(*(batch(k) for k in range(8)))
        stored = await clean_db.fetchrow(
            "SELECT count(*) AS n, min(t) AS lo, max(t) AS hi FROM atlas4d.observations_core WHERE track_id = $1",
            track,
        )
        got = await clean_db.fetchrow(
            "SELECT point_count, start_time, end_time FROM atlas4d.tracks WHERE id = $1", track
        )
        assert (got["point_count"], got["start_time"], got["end_time"]) == (
            stored["n"],
            stored["lo"],
            stored["hi"],
        )
