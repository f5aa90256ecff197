"""The mobility module on a real PostGIS: migrations, seed, every root field, speeding and dwell against
Python oracles, batching counted at the driver, typed errors, and composition with core."""

from __future__ import annotations

import json
import math
import random
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import shapely
from shapely.geometry import Point, box

from atlas4d.core.context import Context
from atlas4d.core.ingest import ObservationItem, ingest_observations
from atlas4d.core.schema import build_core_schema
from atlas4d.db.migrate import load_migrations, migrate
from atlas4d.db.pool import log_statements
from atlas4d.demo import load_burgas
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.modules.mobility import module
from atlas4d.modules.mobility.loaders import create_loaders
from atlas4d.modules.mobility.schema import build_mobility_schema
from atlas4d.modules.mobility.seed import GEOFENCES, STOPS, seed_mobility
from atlas4d.settings import Settings
from conftest import migrate_module, serve_modules

END = datetime(2026, 5, 1, 12, tzinfo=UTC)
TABLES = (
    "atlas4d_mobility.trips, atlas4d_mobility.vehicles, atlas4d_mobility.stops, atlas4d_mobility.geofences"
)
JS_DIR = Path(__file__).resolve().parents[1] / "js"
SPHERE_RADIUS_M = 6_371_008.7714  # PostGIS' sphere for SRID 4326 (ST_DistanceSphere)


@pytest.fixture(scope="module")
async def migrated(pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate_module(pool, module)
    return pool


@pytest.fixture
async def db(clean_db: asyncpg.Pool, migrated: asyncpg.Pool) -> asyncpg.Pool:
    await clean_db.execute(f"TRUNCATE {TABLES}")
    return clean_db


@pytest.fixture(scope="module")
async def mclient(
    settings: Settings, database_url: str, migrated: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve_modules(settings, database_url, [module]):
        yield client


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    r = await client.post("/subgraphs/mobility/graphql", json={"query": query, "variables": variables or {}})
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


async def error_code(client: httpx.AsyncClient, query: str) -> str:
    r = await client.post("/subgraphs/mobility/graphql", json={"query": query})
    body = r.json()
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


async def seed(pool: asyncpg.Pool, n: int = 7) -> Any:
    async with pool.acquire() as conn:
        return await seed_mobility(conn, n, end=END)


async def snapshot(pool: asyncpg.Pool) -> dict[str, Any]:
    return {
        "vehicles": [tuple(r) for r in await pool.fetch("SELECT * FROM atlas4d_mobility.vehicles ORDER BY 1")],
        "stops": [tuple(r) for r in await pool.fetch("SELECT id, name, ST_AsText(geom) FROM atlas4d_mobility.stops ORDER BY 1")],
        "geofences": [tuple(r) for r in await pool.fetch("SELECT id, name, speed_limit_kmh, ST_AsText(geom) FROM atlas4d_mobility.geofences ORDER BY 1")],
        "trips": [tuple(r) for r in await pool.fetch("SELECT * FROM atlas4d_mobility.trips ORDER BY 1")],
        "observations": [tuple(r) for r in await pool.fetch("SELECT t, lon, lat, speed_ms, entity_id, track_id FROM atlas4d.observations_core ORDER BY entity_id, t")],
        "entities": await pool.fetchval("SELECT count(*) FROM atlas4d.entities"),
        "tracks": await pool.fetchval("SELECT count(*) FROM atlas4d.tracks"),
    }  # fmt: skip


# --- migrations and seed --------------------------------------------------------------------------------


async def test_migrations_apply_once_and_touch_only_their_schema(migrated: asyncpg.Pool) -> None:
    async with migrated.acquire() as conn:
        assert await migrate(conn, load_migrations("mobility", module.migrations)) == []  # type: ignore[arg-type]
    tables = {
        r[0]
        for r in await migrated.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'atlas4d_mobility'")
    }
    assert tables == {"vehicles", "stops", "geofences", "trips"}
    sql = (module.migrations / "0001_mobility.sql").read_text()  # type: ignore[operator]
    assert "ALTER TABLE atlas4d." not in sql and "CREATE TABLE IF NOT EXISTS atlas4d." not in sql
    assert module.db_schema == "atlas4d_mobility" and module.problems("0.1.0") == []


async def test_seed_alone_is_deterministic_and_idempotent(db: asyncpg.Pool) -> None:
    summary = await seed(db)
    first = await snapshot(db)
    assert summary.rows["atlas4d_mobility.vehicles"] == 6 == len(first["vehicles"])
    assert len(first["stops"]) == len(STOPS) and len(first["geofences"]) == len(GEOFENCES)
    assert summary.rows["atlas4d_mobility.trips"] == first["tracks"] == len(first["trips"]) > 20
    assert all(t[2] is not None and t[3] is not None for t in first["trips"])  # stop to stop
    for _, lon, lat, *_ in first["observations"]:
        assert 27.35 <= lon <= 27.55 and 42.44 <= lat <= 42.57
    await seed(db)
    assert await snapshot(db) == first  # re-run replaces
    await db.execute(f"TRUNCATE {TABLES}")
    await db.execute("TRUNCATE atlas4d.observations_core, atlas4d.tracks, atlas4d.entities")
    await seed(db)
    assert await snapshot(db) == first  # same seed, same rows
    await seed(db, 8)
    assert (await snapshot(db))["observations"] != first["observations"]


async def test_seed_on_top_of_the_core_demo(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        demo = await load_burgas(conn, seed=42, end=END)
    before = await db.fetchval("SELECT count(*) FROM atlas4d.observations_core")
    summary = await seed(db, 42)
    assert summary.rows["atlas4d.observations_core"] == 0
    assert await db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == before
    rows = await db.fetch(
        "SELECT v.kind, e.properties->>'vehicle_class' AS cls, v.label = e.name AS same FROM atlas4d_mobility.vehicles v "
        "JOIN atlas4d.entities e ON e.id = v.entity_id"
    )
    assert len(rows) == demo.vehicles == 24
    assert all(r["same"] and r["kind"] == {"delivery_van": "truck"}.get(r["cls"], r["cls"]) for r in rows)
    assert summary.rows["atlas4d_mobility.trips"] == demo.tracks
    snap = await snapshot(db)
    await seed(db, 42)
    assert await snapshot(db) == snap
    events = await db.fetchval(
        "SELECT count(*) FROM atlas4d_mobility.geofences g JOIN atlas4d.observations_core o "
        "ON ST_Intersects(g.geom, o.geom) WHERE o.speed_ms * 3.6 > g.speed_limit_kmh"
    )
    assert events > 0  # the demo's vehicles break the limits somewhere


# --- root fields ------------------------------------------------------------------------------------------


async def test_every_root_field(db: asyncpg.Pool, mclient: httpx.AsyncClient) -> None:
    await seed(db)
    data = await gql(
        mclient,
        """{
          vehicles { id kind label capacity entity { id } trips(first: 2) { id startStop { name } } }
          buses: vehicles(kinds: [BUS]) { kind }
          trips(first: 500) { id distanceMeters duration averageSpeedKmh startTime endTime track { id }
                              vehicle { id } startStop { name lon lat geometry } endStop { name } }
          stops { id name lon lat }
          inCentre: stops(bbox: {minLon: 27.46, minLat: 42.49, maxLon: 27.48, maxLat: 42.50}) { name }
          geofences { id name speedLimitKmh geometry }
          speedingEvents(first: 10000) { time speedKmh limitKmh excessKmh observation { id } entity { id }
                                         vehicle { label } geofence { name } }
          dwellEvents(minMinutes: 10, radiusMeters: 50) { startTime endTime duration pointCount lon lat
                                                          entity { id } vehicle { label } }
        }""",
    )
    assert len(data["vehicles"]) == 6 and {v["kind"] for v in data["vehicles"]} == {
        "CAR",
        "TAXI",
        "BUS",
        "TRUCK",
    }
    assert all(v["entity"]["id"] == v["id"] and len(v["trips"]) == 2 for v in data["vehicles"])
    assert data["buses"] == [{"kind": "BUS"}]
    trips = data["trips"]
    assert len(trips) == await db.fetchval("SELECT count(*) FROM atlas4d.tracks")
    lengths = {str(r["id"]): r["length_m"] for r in await db.fetch("SELECT id, length_m FROM atlas4d.tracks")}
    for t in trips:
        assert t["track"]["id"] == t["id"] and t["distanceMeters"] == pytest.approx(lengths[t["id"]])
        assert t["startStop"]["name"] != t["endStop"]["name"]
        assert 15 < t["averageSpeedKmh"] < 80
    assert [t["startTime"] for t in trips] == sorted(t["startTime"] for t in trips)
    assert [s["name"] for s in data["stops"]] == sorted(s[0] for s in STOPS)
    assert [s["name"] for s in data["inCentre"]] == ["Port of Burgas", "Troykata (centre)"]
    assert [g["name"] for g in data["geofences"]] == sorted(g[0] for g in GEOFENCES)
    assert all(g["geometry"]["type"] == "Polygon" for g in data["geofences"])
    speeding = data["speedingEvents"]
    assert speeding and all(e["excessKmh"] > 0 and e["vehicle"]["label"] for e in speeding)
    dwell = data["dwellEvents"]
    assert len(dwell) >= 6 * 10  # every vehicle parks between its trips
    assert all(d["pointCount"] >= 10 and d["vehicle"]["label"] for d in dwell)


async def test_entity_and_track_extensions(db: asyncpg.Pool, mclient: httpx.AsyncClient) -> None:
    await seed(db)
    track = await db.fetchrow("SELECT id, entity_id FROM atlas4d.tracks ORDER BY id LIMIT 1")
    reps = [
        {"__typename": "Track", "id": str(track["id"])},
        {"__typename": "Track", "id": str(uuid.uuid4())},
        {"__typename": "Entity", "id": str(track["entity_id"])},
        {"__typename": "Entity", "id": "not-a-uuid"},
    ]
    data = await gql(
        mclient,
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Track { id trip { vehicle { id } } } "
        "... on Entity { id vehicle { id } } } }",
        {"r": reps},
    )
    got = data["_entities"]
    assert got[0]["trip"]["vehicle"]["id"] == str(track["entity_id"])
    assert got[1]["trip"] is None
    assert got[2]["vehicle"]["id"] == str(track["entity_id"])
    assert got[3] == {"id": "not-a-uuid", "vehicle": None}


# --- oracles ----------------------------------------------------------------------------------------------


async def ingest(pool: asyncpg.Pool, items: list[ObservationItem]) -> None:
    await ingest_observations(pool, items, max_batch=10_000, copy_threshold=200)


async def test_speeding_events_match_a_shapely_oracle(db: asyncpg.Pool, mclient: httpx.AsyncClient) -> None:
    rng = random.Random(3)
    zones = {
        uuid.uuid4(): (box(27.40, 42.45, 27.45, 42.50), 50.0),
        uuid.uuid4(): (box(27.43, 42.48, 27.48, 42.52), 30.0),  # overlaps the first
    }
    for zid, (poly, limit) in zones.items():
        await db.execute(
            "INSERT INTO atlas4d_mobility.geofences (id, name, speed_limit_kmh, geom) VALUES ($1, $2, $3, $4)",
            zid, f"z{limit}", limit, shapely.set_srid(poly, 4326),
        )  # fmt: skip
    entity = uuid.uuid4()
    items = [
        ObservationItem(
            time=END + timedelta(seconds=i),
            lon=rng.uniform(27.38, 27.50),
            lat=rng.uniform(42.43, 42.54),
            speed=rng.choice([None, rng.uniform(0, 25)]),
            entity_id=str(entity),
        )
        for i in range(400)
    ]
    await ingest(db, items)
    rows = await db.fetch("SELECT id, t, lon, lat, speed_ms FROM atlas4d.observations_core")
    window = (END + timedelta(seconds=50), END + timedelta(seconds=350))
    expected = sorted(
        (str(r["id"]), str(zid))
        for r in rows
        for zid, (poly, limit) in zones.items()
        if r["speed_ms"] is not None
        and r["speed_ms"] * 3.6 > limit
        and poly.intersects(Point(r["lon"], r["lat"]))
        and window[0] <= r["t"] < window[1]
    )
    assert len(expected) > 20
    data = await gql(
        mclient,
        "query($from: DateTime!, $to: DateTime!) { speedingEvents(time: {from: $from, to: $to}, first: 10000) "
        "{ observation { id } geofence { id } speedKmh limitKmh } }",
        {"from": window[0].isoformat(), "to": window[1].isoformat()},
    )
    got = sorted((e["observation"]["id"], e["geofence"]["id"]) for e in data["speedingEvents"])
    assert got == expected
    one = next(iter(zones))
    data = await gql(
        mclient, f'{{ speedingEvents(geofenceIds: ["{one}"], first: 10000) {{ geofence {{ id }} }} }}'
    )
    assert data["speedingEvents"] and {e["geofence"]["id"] for e in data["speedingEvents"]} == {str(one)}


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * SPHERE_RADIUS_M * math.asin(math.sqrt(h))


def dwell_oracle(
    points: dict[uuid.UUID, list[tuple[datetime, float, float]]], radius: float, minimum: timedelta
) -> list[tuple[str, datetime, datetime, int]]:
    out = []
    for entity, series in points.items():
        anchor: tuple[datetime, float, float] | None = None
        last, n = None, 0
        for t, lon, lat in [*sorted(series), (datetime.max.replace(tzinfo=UTC), math.inf, math.inf)]:
            far = anchor is None or not math.isfinite(lon) or haversine_m(anchor[1:], (lon, lat)) > radius
            if anchor is not None and math.isfinite(lon):
                assert abs(haversine_m(anchor[1:], (lon, lat)) - radius) > 0.01  # no tie with PostGIS
            if far:
                if anchor is not None and last is not None and last - anchor[0] >= minimum:
                    out.append((str(entity), anchor[0], last, n))
                anchor, n = (t, lon, lat), 0
            last, n = t, n + 1
    return sorted(out, key=lambda e: (e[1], e[0]))


async def test_dwell_events_match_a_python_oracle(db: asyncpg.Pool, mclient: httpx.AsyncClient) -> None:
    rng = random.Random(11)
    points: dict[uuid.UUID, list[tuple[datetime, float, float]]] = {}
    for _ in range(5):
        entity, t = uuid.uuid4(), END
        lon, lat = 27.45, 42.50
        series = []
        for _ in range(12):
            staying = rng.random() < 0.5
            for _ in range(rng.randrange(3, 25)):
                if staying:  # wander a few metres around a spot
                    here = (lon + rng.uniform(-2e-4, 2e-4), lat + rng.uniform(-1.5e-4, 1.5e-4))
                else:
                    lon, lat = lon + rng.uniform(-3e-3, 3e-3), lat + rng.uniform(-2e-3, 2e-3)
                    here = (lon, lat)
                series.append((t, *here))
                t += timedelta(seconds=rng.randrange(30, 180))
        points[entity] = series
        await db.execute(
            "INSERT INTO atlas4d_mobility.vehicles (entity_id, kind, label, capacity) VALUES ($1, 'car', $2, 4)",
            entity, str(entity)[:8],
        )  # fmt: skip
    await ingest(
        db,
        [ObservationItem(time=t, lon=x, lat=y, entity_id=str(e)) for e, s in points.items() for t, x, y in s],
    )
    for radius, minutes in ((50.0, 5.0), (40.0, 10.0), (80.0, 2.5)):
        expected = dwell_oracle(points, radius, timedelta(minutes=minutes))
        data = await gql(
            mclient,
            "query($r: Float!, $m: Float!) { dwellEvents(radiusMeters: $r, minMinutes: $m, first: 10000) "
            "{ entity { id } startTime endTime pointCount } }",
            {"r": radius, "m": minutes},
        )
        got = [
            (d["entity"]["id"], datetime.fromisoformat(d["startTime"]), datetime.fromisoformat(d["endTime"]), d["pointCount"])
            for d in data["dwellEvents"]
        ]  # fmt: skip
        assert len(expected) >= 4 and got == expected, (radius, minutes, len(expected))
    # a time window cuts the series before the scan; entityIds scans entities that are not vehicles too
    some = next(iter(points))
    cut = points[some][10][0]
    expected = dwell_oracle({some: [p for p in points[some] if p[0] >= cut]}, 50.0, timedelta(minutes=5))
    await db.execute("DELETE FROM atlas4d_mobility.vehicles")
    data = await gql(
        mclient,
        f'{{ dwellEvents(radiusMeters: 50, minMinutes: 5, entityIds: ["{some}"], time: {{from: "{cut.isoformat()}"}}) '
        "{ startTime pointCount } }",
    )
    assert [(datetime.fromisoformat(d["startTime"]), d["pointCount"]) for d in data["dwellEvents"]] == [
        (e[1], e[3]) for e in expected
    ]


# --- batching ---------------------------------------------------------------------------------------------


async def fifty_vehicles(db: asyncpg.Pool) -> list[uuid.UUID]:
    async with db.acquire() as conn:
        await seed_mobility(conn, 1, end=END)  # stops and geofences (and a fleet we replace below)
    await db.execute("TRUNCATE atlas4d_mobility.vehicles, atlas4d_mobility.trips")
    ids = [uuid.uuid4() for _ in range(50)]
    items = []
    for entity in ids:
        for trip in range(2):
            track = uuid.uuid4()
            for k in range(5):  # from the centre to the port, ~1 km
                items.append(
                    ObservationItem(
                        time=END + timedelta(hours=trip, minutes=k), lon=27.4700 + 0.002 * k,
                        lat=42.4960 - 0.0015 * k, speed=8.0, entity_id=str(entity), entity_kind="vehicle",
                        track_id=str(track),
                    )
                )  # fmt: skip
    await ingest(db, items)
    await db.execute(
        "INSERT INTO atlas4d_mobility.vehicles (entity_id, kind, label, capacity) "
        "SELECT id, 'bus', 'bus ' || id, 80 FROM unnest($1::uuid[]) AS id",
        ids,
    )
    await db.fetchval("SELECT atlas4d_mobility.refresh_trips(ARRAY(SELECT id FROM atlas4d.tracks), 600)")
    return ids


ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity {
  id vehicle { kind label capacity entity { id }
               trips(first: 5) { id distanceMeters startStop { name } endStop { name } vehicle { label } } } } } }"""


async def test_entity_references_are_one_statement_per_level(
    db: asyncpg.Pool, mclient: httpx.AsyncClient
) -> None:
    ids = await fifty_vehicles(db)
    reps = [{"__typename": "Entity", "id": str(i)} for i in ids]
    with log_statements() as log:
        data = await gql(mclient, ENTITIES, {"r": reps})
    got = data["_entities"]
    assert [e["id"] for e in got] == [str(i) for i in ids]
    for e in got:  # complete answers, so the count is not low because fields came back empty
        assert e["vehicle"]["kind"] == "BUS" and len(e["vehicle"]["trips"]) == 2
        assert all(
            t["startStop"]["name"] == "Troykata (centre)" and t["endStop"]["name"] == "Port of Burgas"
            for t in e["vehicle"]["trips"]
        )
    # vehicles, trips, stops (start and end in one batch), Trip.vehicle (cached: already loaded, no statement)
    assert len(log) == 3, "\n".join(s[:120] for s in log.statements)


async def test_track_references_are_one_statement_per_level(
    db: asyncpg.Pool, mclient: httpx.AsyncClient
) -> None:
    ids = await fifty_vehicles(db)
    tracks = [
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM atlas4d.tracks WHERE entity_id = ANY($1) ORDER BY id LIMIT 50", ids
        )
    ]
    reps = [{"__typename": "Track", "id": str(t)} for t in tracks]
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Track { id trip { duration vehicle { label } startStop { name } } } } }"
    with log_statements() as log:
        data = await gql(mclient, query, {"r": reps})
    assert all(e["trip"]["vehicle"]["label"] and e["trip"]["startStop"] for e in data["_entities"])
    assert len(log) == 3  # trips, vehicles, stops


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ dwellEvents(minMinutes: -1) { lon } }", "BAD_USER_INPUT"),
        ("{ dwellEvents(radiusMeters: 0) { lon } }", "BAD_USER_INPUT"),
        ("{ dwellEvents(radiusMeters: 1e9) { lon } }", "BAD_USER_INPUT"),
        ('{ dwellEvents(entityIds: ["x"]) { lon } }', "BAD_USER_INPUT"),
        (
            '{ dwellEvents(time: {from: "2026-05-02T00:00:00Z", to: "2026-05-01T00:00:00Z"}) { lon } }',
            "BAD_TIME_RANGE",
        ),
        ('{ speedingEvents(time: {last: "P1Y"}) { time } }', "BAD_DURATION"),
        ('{ speedingEvents(time: {from: "2026-05-01T00:00:00"}) { time } }', "BAD_TIME_RANGE"),
        ('{ speedingEvents(geofenceIds: ["nope"]) { time } }', "BAD_USER_INPUT"),
        ("{ stops(bbox: {minLon: 27, minLat: 43, maxLon: 28, maxLat: 42}) { name } }", "BAD_BBOX"),
        ("{ stops(bbox: {minLon: 200, minLat: 42, maxLon: 28, maxLat: 43}) { name } }", "BAD_BBOX"),
        ("{ vehicles(first: 1000000) { id } }", "PAGE_TOO_LARGE"),
        ("{ trips(first: -1) { id } }", "BAD_USER_INPUT"),
        ('{ trips(vehicleIds: ["1"]) { id } }', "BAD_USER_INPUT"),
        ('{ geofences(ids: ["zone"]) { id } }', "BAD_USER_INPUT"),
        ("{ vehicles(kinds: [PLANE]) { id } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_bad_input_gives_a_typed_code(mclient: httpx.AsyncClient, query: str, code: str) -> None:
    assert await error_code(mclient, query) == code


# --- composition and the gateway ---------------------------------------------------------------------------


def sources() -> list[SubgraphSource]:
    return [
        SubgraphSource("core", "http://core.test/graphql", build_core_schema().as_str()),
        SubgraphSource("mobility", "http://mobility.test/graphql", build_mobility_schema().as_str()),
    ]


def test_composes_with_core_in_apollo_composition() -> None:
    payload = [{"name": s.name, "url": s.url, "sdl": s.sdl} for s in sources()]
    done = subprocess.run(
        ["node", str(JS_DIR / "compose.js")], input=json.dumps(payload), capture_output=True, text=True,
        cwd=JS_DIR, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert "errors" not in result, result
    supergraph = result["supergraphSdl"]
    assert "vehicle: Vehicle @join__field(graph: MOBILITY)" in supergraph
    assert "trip: Trip @join__field(graph: MOBILITY)" in supergraph


async def test_a_query_across_core_and_mobility_through_the_gateway(
    db: asyncpg.Pool, settings: Settings
) -> None:
    await seed(db)
    gateway = Gateway.from_supergraph(
        compose(sources()), local={"core": build_core_schema(), "mobility": build_mobility_schema()}
    )
    context = Context.create(db, settings, loader_factories={"mobility": create_loaders})
    query = """{ entities(filter: {kinds: ["vehicle"]}, first: 50) { nodes {
        id name latestObservation { time speed }
        vehicle { kind label trips(first: 1) { distanceMeters endStop { name } track { pointCount } } } } } }"""
    with log_statements() as log:
        result = await gateway.execute(query, context=context)
    assert "errors" not in result, result
    nodes = result["data"]["entities"]["nodes"]
    assert len(nodes) == 6
    for n in nodes:
        assert n["vehicle"]["label"] == n["name"] and n["latestObservation"]["time"]
        assert n["vehicle"]["trips"][0]["track"]["pointCount"] >= 3
    # core: entities, latest observations; mobility: vehicles, trips, stops; core again: tracks
    assert len(log) == 6, "\n".join(s[:120] for s in log.statements)


# --- docs -------------------------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "modules" / "mobility.md"


def test_the_docs_page_covers_every_field_and_setting_and_its_examples_validate() -> None:
    import re

    from graphql import GraphQLObjectType, parse, validate

    from atlas4d.federation.supergraph import Supergraph
    from atlas4d.modules.mobility.settings import MobilitySettings

    text = DOC.read_text()
    schema = build_mobility_schema()._schema
    for name in (
        "Query",
        "Vehicle",
        "Trip",
        "Stop",
        "Geofence",
        "SpeedingEvent",
        "DwellEvent",
        "Entity",
        "Track",
    ):
        gql_type = schema.type_map[name]
        assert isinstance(gql_type, GraphQLObjectType)
        for field, definition in gql_type.fields.items():
            if field.startswith("_") or (name in ("Entity", "Track") and field == "id"):
                continue
            assert re.search(rf"\b{field}\b", text), f"{name}.{field} is not documented"
            for arg in definition.args:
                assert re.search(rf"\b{arg}\b", text), f"{name}.{field}({arg}) is not documented"
    for setting in MobilitySettings.model_fields:
        assert f"ATLAS4D_MOBILITY_{setting.upper()}" in text
    api = Supergraph.parse(compose(sources())).api_schema
    examples = re.findall(r"```graphql\n(.*?)```", text, re.S)
    assert len(examples) >= 3
    for example in examples:
        assert validate(api, parse(example)) == []
