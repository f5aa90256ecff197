"""Mobility against Python oracles (speeding with shapely, dwell with a haversine scan) and batching
counted at the driver: one SQL statement per nested level."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import shapely
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from module_helpers import migrate_module, serve_modules
from shapely.geometry import Point, box
from test_mobility import END, TABLES, gql

from atlas4d.core.ingest import ObservationItem, ingest_observations
from atlas4d.db.pool import log_statements
from atlas4d.modules.mobility import module
from atlas4d.modules.mobility.seed import seed_mobility
from atlas4d.settings import Settings

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
    # the oracles ask for every event with linked objects (`first: 10000` x 3): over the default ATLAS4D_MAX_COST
    generous = settings.model_copy(update={"max_cost": 100_000})
    async for client in serve_modules(generous, database_url, [module]):
        yield client


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


class Tie(Exception):
    """A distance so close to the radius that sphere radii or float rounding could decide it."""


def dwell_oracle(
    points: dict[uuid.UUID, list[tuple[datetime, float, float]]], radius: float, minimum: timedelta
) -> list[tuple[str, datetime, datetime, int]]:
    out = []
    for entity, series in points.items():
        anchor: tuple[datetime, float, float] | None = None
        last, n = None, 0
        for t, lon, lat in [*sorted(series), (datetime.max.replace(tzinfo=UTC), math.inf, math.inf)]:
            far = anchor is None or not math.isfinite(lon) or haversine_m(anchor[1:], (lon, lat)) > radius
            if (
                anchor is not None
                and math.isfinite(lon)
                and abs(haversine_m(anchor[1:], (lon, lat)) - radius) < 0.01
            ):
                raise Tie
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


metres = st.one_of(st.floats(-6, 6), st.floats(-90, 90))
walks = st.lists(st.tuples(st.integers(5, 600), metres, metres), min_size=1, max_size=40)


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    walks=st.lists(walks, min_size=1, max_size=3),
    radius=st.sampled_from([20.0, 50.0]),
    minutes=st.sampled_from([1.0, 4.0]),
)
async def test_random_walks_give_the_oracle_s_stays(
    migrated: asyncpg.Pool, mclient: httpx.AsyncClient, walks: list[Any], radius: float, minutes: float
) -> None:
    points: dict[uuid.UUID, list[tuple[datetime, float, float]]] = {}
    for walk in walks:
        t, lon, lat = END, 27.45, 42.50
        series = []
        for seconds, dx, dy in walk:
            t += timedelta(seconds=seconds)
            lon += dx / (111_320 * math.cos(math.radians(lat)))
            lat += dy / 110_574
            series.append((t, round(lon, 7), round(lat, 7)))
        points[uuid.uuid4()] = series
    try:
        expected = dwell_oracle(points, radius, timedelta(minutes=minutes))
    except Tie:
        assume(False)
    await migrated.execute(f"TRUNCATE atlas4d.observations_core, atlas4d.tracks, atlas4d.entities, {TABLES}")
    await ingest(
        migrated,
        [ObservationItem(time=t, lon=x, lat=y, entity_id=str(e)) for e, s in points.items() for t, x, y in s],
    )
    await migrated.execute(
        "INSERT INTO atlas4d_mobility.vehicles (entity_id, kind, label, capacity) SELECT id, 'taxi', 'x', 4 FROM unnest($1::uuid[]) id",
        list(points),
    )
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
    assert got == expected
