"""The mobility demo around Burgas: stops, speed-limited geofences, vehicle details for every core
"vehicle" entity, and trips from their tracks.

On top of the core demo it only adds module rows. Alone (no core vehicles yet) it first creates a small
fleet in core — entities, observations and tracks written with core's validation — whose trips cross
the geofences and park at stops, so speeding and dwell events exist either way. Deterministic (seeded
RNG, uuid5 ids, a fixed window ending at `end`) and idempotent: a re-run replaces its rows.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from atlas4d.core.ingest import OBSERVATION_COPY_COLUMNS, ObservationItem, validate_observations
from atlas4d.modules.contract import SeedSummary
from atlas4d.modules.mobility.settings import current_settings

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "atlas4d:module:mobility")
# Everything this seed places lies in lon 27.35..27.55, lat 42.45..42.55 (the core demo's vehicles drive a
# little beyond it, to the airport; their trips there end at no stop).
WINDOW = timedelta(hours=24)

STOPS: tuple[tuple[str, float, float], ...] = (
    ("Troykata (centre)", 27.4700, 42.4960),
    ("Airport road (Sarafovo turn)", 27.5100, 42.5480),
    ("Sarafovo", 27.5350, 42.5470),
    ("Dolno Ezerovo", 27.3850, 42.4960),
    ("Vaya lakeside", 27.4250, 42.5020),
    ("Meden Rudnik", 27.4370, 42.4560),
    ("Izgrev", 27.4380, 42.5200),
    ("Lazur", 27.4780, 42.5150),
    ("Sea Garden", 27.4850, 42.4930),
    ("Port of Burgas", 27.4780, 42.4900),
    ("Kraimorie road", 27.4980, 42.4560),
)
# name, speed limit km/h, (min lon, min lat, max lon, max lat)
GEOFENCES: tuple[tuple[str, float, tuple[float, float, float, float]], ...] = (
    ("City centre", 40.0, (27.4550, 42.4880, 27.4850, 42.5050)),
    ("Sea Garden promenade", 30.0, (27.4800, 42.4920, 27.4950, 42.5150)),
    ("Airport road", 60.0, (27.4700, 42.5150, 27.5400, 42.5500)),
    ("Meden Rudnik school zone", 30.0, (27.4350, 42.4540, 27.4550, 42.4700)),
)
KINDS = {"car": "car", "taxi": "taxi", "bus": "bus", "truck": "truck", "delivery_van": "truck"}
CAPACITY = {"car": (4, 5), "taxi": (4, 4), "bus": (60, 90), "truck": (2, 3)}
# the stand-alone fleet: vehicle class and cruise speed range, m/s
FLEET: tuple[tuple[str, float, float], ...] = (
    ("car", 9.0, 20.0),
    ("car", 8.0, 18.0),
    ("taxi", 8.0, 19.0),
    ("bus", 6.0, 13.0),
    ("truck", 7.0, 15.0),
    ("delivery_van", 7.0, 16.0),
)
SAMPLE_S = 30
PARK_SAMPLE_S = 60


def seeded_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


def default_end() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _box(b: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = b
    return json.dumps(
        {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}
    )


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * 111_320 * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot(dx, (b[1] - a[1]) * 110_574)


@dataclass(frozen=True)
class Fleet:
    entities: list[tuple[uuid.UUID, str, dict[str, Any]]]
    items: list[ObservationItem]
    track_ids: list[uuid.UUID]


def standalone_fleet(seed: int, end: datetime) -> Fleet:
    """Vehicles driving stop to stop in straight lines, parked 15-40 min at each stop (pure)."""
    rng = random.Random(f"mobility-fleet-{seed}")
    start = end - WINDOW
    entities: list[tuple[uuid.UUID, str, dict[str, Any]]] = []
    items: list[ObservationItem] = []
    tracks: list[uuid.UUID] = []
    for v, (vclass, low, high) in enumerate(FLEET):
        eid = seeded_id("vehicle", v)
        name = f"A {1000 + 137 * v} MB"
        entities.append((eid, name, {"vehicle_class": vclass, "scenario": "burgas", "module": "mobility"}))
        here = STOPS[rng.randrange(len(STOPS))][1:]
        t = start + timedelta(seconds=rng.randrange(0, 3600))
        trip = 0
        while t < end - timedelta(hours=1):
            there = STOPS[rng.randrange(len(STOPS))][1:]
            if there == here:
                continue
            track = seeded_id(seed, "vehicle", v, "trip", trip)
            speed = rng.uniform(low, high)
            steps = max(2, math.ceil(_distance_m(here, there) / (speed * SAMPLE_S)))
            for k in range(steps + 1):
                f = k / steps
                lon, lat = here[0] + (there[0] - here[0]) * f, here[1] + (there[1] - here[1]) * f
                items.append(_item(t, lon, lat, speed, eid, track, vclass))
                t += timedelta(seconds=SAMPLE_S)
            tracks.append(track)
            trip += 1
            for _ in range(rng.randrange(15, 41) * 60 // PARK_SAMPLE_S):
                jitter = (rng.uniform(-3e-5, 3e-5), rng.uniform(-3e-5, 3e-5))
                items.append(_item(t, there[0] + jitter[0], there[1] + jitter[1], 0.0, eid, None, vclass))
                t += timedelta(seconds=PARK_SAMPLE_S)
            here = there
    return Fleet(entities, items, tracks)


def _item(
    t: datetime, lon: float, lat: float, speed: float, eid: uuid.UUID, track: uuid.UUID | None, vclass: str
) -> ObservationItem:
    return ObservationItem(
        time=t,
        lon=round(lon, 7),
        lat=round(lat, 7),
        speed=round(speed, 2),
        source_type="vehicle",
        entity_id=str(eid),
        entity_kind="vehicle",
        track_id=str(track) if track else None,
        metadata={"scenario": "burgas", "module": "mobility", "vehicle_class": vclass},
    )


async def _write_fleet(conn: asyncpg.Connection, fleet: Fleet) -> int:
    rows, _ = validate_observations(fleet.items, max_batch=len(fleet.items))
    ids = [e[0] for e in fleet.entities]
    await conn.execute("DELETE FROM atlas4d.observations_core WHERE entity_id = ANY($1::uuid[])", ids)
    await conn.execute("DELETE FROM atlas4d.tracks WHERE entity_id = ANY($1::uuid[])", ids)
    await conn.execute(
        "INSERT INTO atlas4d.entities (id, kind, name, source_type, properties) "
        "SELECT id, 'vehicle', name, 'vehicle', props FROM unnest($1::uuid[], $2::text[], $3::jsonb[]) "
        "AS x(id, name, props) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, "
        "source_type = excluded.source_type, properties = excluded.properties",
        ids,
        [e[1] for e in fleet.entities],
        [e[2] for e in fleet.entities],
    )
    await conn.copy_records_to_table(
        "observations_core", schema_name="atlas4d", columns=OBSERVATION_COPY_COLUMNS, records=rows
    )
    await conn.fetchval("SELECT atlas4d.refresh_tracks($1::uuid[])", fleet.track_ids)
    return len(rows)


async def _write_places(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO atlas4d_mobility.stops (id, name, geom) "
        "SELECT id, name, ST_SetSRID(ST_MakePoint(lon, lat), 4326) "
        "FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::float8[]) AS x(id, name, lon, lat) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, geom = excluded.geom",
        [seeded_id("stop", s[0]) for s in STOPS],
        [s[0] for s in STOPS],
        [s[1] for s in STOPS],
        [s[2] for s in STOPS],
    )
    await conn.execute(
        "INSERT INTO atlas4d_mobility.geofences (id, name, speed_limit_kmh, geom) "
        "SELECT id, name, lim, ST_SetSRID(ST_GeomFromGeoJSON(g), 4326) "
        "FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::text[]) AS x(id, name, lim, g) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, speed_limit_kmh = excluded.speed_limit_kmh, "
        "geom = excluded.geom",
        [seeded_id("geofence", g[0]) for g in GEOFENCES],
        [g[0] for g in GEOFENCES],
        [g[1] for g in GEOFENCES],
        [_box(g[2]) for g in GEOFENCES],
    )


def vehicle_details(seed: int, entities: list[asyncpg.Record]) -> list[tuple[uuid.UUID, str, str, int]]:
    """(entity id, kind, label, capacity) for each vehicle entity, in id order (pure)."""
    rng = random.Random(f"mobility-vehicles-{seed}")
    out = []
    for e in sorted(entities, key=lambda r: r["id"]):
        vclass = str((e["properties"] or {}).get("vehicle_class", ""))
        kind = KINDS.get(vclass) or rng.choice(("car", "car", "taxi", "bus", "truck"))
        capacity = rng.randint(*CAPACITY[kind])
        out.append((e["id"], kind, e["name"] or f"{kind} {str(e['id'])[:8]}", capacity))
    return out


async def seed_mobility(conn: asyncpg.Connection, seed: int, *, end: datetime | None = None) -> SeedSummary:
    """Load the mobility demo (see the module docstring); one transaction."""
    end = (end or default_end()).astimezone(UTC)
    created = 0
    async with conn.transaction():
        # vehicles of others (the core demo, real fleets); ours only when there are none
        find = (
            "SELECT id, name, properties FROM atlas4d.entities WHERE kind = 'vehicle' "
            "AND (properties->>'module' IS DISTINCT FROM 'mobility') = $1"
        )
        entities = await conn.fetch(find, True)
        if not entities:
            created = await _write_fleet(conn, standalone_fleet(seed, end))
            entities = await conn.fetch(find, False)
        await _write_places(conn)
        details = vehicle_details(seed, entities)
        ids = [d[0] for d in details]
        await conn.execute(
            "DELETE FROM atlas4d_mobility.vehicles v WHERE v.entity_id = ANY($1::uuid[]) "
            "OR NOT EXISTS (SELECT 1 FROM atlas4d.entities e WHERE e.id = v.entity_id)",
            ids,
        )
        await conn.execute(
            "INSERT INTO atlas4d_mobility.vehicles (entity_id, kind, label, capacity) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[])",
            ids,
            [d[1] for d in details],
            [d[2] for d in details],
            [d[3] for d in details],
        )
        await conn.execute(
            "DELETE FROM atlas4d_mobility.trips t WHERE t.vehicle_id = ANY($1::uuid[]) "
            "OR NOT EXISTS (SELECT 1 FROM atlas4d.tracks tr WHERE tr.id = t.track_id)",
            ids,
        )
        trips = await conn.fetchval(
            "SELECT atlas4d_mobility.refresh_trips("
            "ARRAY(SELECT tr.id FROM atlas4d.tracks tr WHERE tr.entity_id = ANY($1::uuid[])), $2)",
            ids,
            current_settings().stop_radius_m,
        )
    return SeedSummary(
        rows={
            "atlas4d_mobility.vehicles": len(details),
            "atlas4d_mobility.stops": len(STOPS),
            "atlas4d_mobility.geofences": len(GEOFENCES),
            "atlas4d_mobility.trips": int(trips),
            "atlas4d.observations_core": created,
        }
    )
