"""The mobility module on a real PostGIS: migrations, seed, every root field, speeding and dwell against
Python oracles, batching counted at the driver, typed errors, and composition with core."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from module_helpers import migrate_module, serve_modules, subgraph_data

from atlas4d.db.migrate import load_migrations, migrate
from atlas4d.demo import load_burgas
from atlas4d.modules.mobility import module
from atlas4d.modules.mobility.seed import GEOFENCES, STOPS, seed_mobility
from atlas4d.settings import Settings

END = datetime(2026, 5, 1, 12, tzinfo=UTC)
TABLES = (
    "atlas4d_mobility.trips, atlas4d_mobility.vehicles, atlas4d_mobility.stops, atlas4d_mobility.geofences"
)
JS_DIR = Path(__file__).resolve().parents[1] / "js"


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
    return await subgraph_data(client, "mobility", query, variables)


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
        assert 27.35 <= lon <= 27.55 and 42.45 <= lat <= 42.55
    extent = await db.fetchrow(
        "SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1 FROM (SELECT ST_Extent(g) AS e "
        "FROM (SELECT geom AS g FROM atlas4d_mobility.stops UNION ALL SELECT geom FROM atlas4d_mobility.geofences) u) x"
    )
    assert extent["x0"] >= 27.35 and extent["x1"] <= 27.55 and extent["y0"] >= 42.45 and extent["y1"] <= 42.55
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
          speedingEvents(first: 2000) { time speedKmh limitKmh excessKmh observation { id } entity { id }
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


def test_module_yaml_agrees_with_the_module() -> None:
    from atlas4d.modules.manifest import manifest_matches, read_manifest

    data = read_manifest(Path(str(module.migrations)).parent / "MODULE.yaml")
    assert manifest_matches(module, data) == []
    assert data["extensions"]["database"]["schema"] == "atlas4d_mobility"
    tables = set(data["extensions"]["database"]["tables"])
    sql = (module.migrations / "0001_mobility.sql").read_text()  # type: ignore[operator]
    assert tables == set(re.findall(r"CREATE TABLE IF NOT EXISTS atlas4d_mobility\.(\w+)", sql))
