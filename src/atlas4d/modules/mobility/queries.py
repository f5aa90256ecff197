"""SQL of the mobility module: column lists, and the root reads (one statement each)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from atlas4d.core.filters import BBox, TimeRange, where
from atlas4d.core.sql import Params

VEHICLE_COLUMNS = "v.entity_id, v.kind, v.label, v.capacity"
STOP_COLUMNS = "s.id, s.name, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat"
GEOFENCE_COLUMNS = "g.id, g.name, g.speed_limit_kmh, ST_AsGeoJSON(g.geom, 7)::json AS geometry"
TRIP_COLUMNS = (
    "t.track_id, t.vehicle_id, t.start_stop_id, t.end_stop_id, t.start_time, t.end_time, t.distance_m"
)

Conn = asyncpg.Pool | asyncpg.Connection


def overlap_sql(time: TimeRange | None, params: Params, start: str, end: str) -> list[str]:
    """Rows whose [start, end] span overlaps the half-open window."""
    clauses = []
    if time is not None and time.start is not None:
        clauses.append(f"{end} >= {params.add(time.start)}")
    if time is not None and time.end is not None:
        clauses.append(f"{start} < {params.add(time.end)}")
    return clauses


def bbox_sql(bbox: BBox, column: str, params: Params) -> str:
    parts = [
        f"{column} && ST_MakeEnvelope({params.add(e[0])}, {params.add(e[1])}, {params.add(e[2])}, "
        f"{params.add(e[3])}, 4326)"
        for e in bbox.envelopes()
    ]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


async def vehicles(
    conn: Conn, kinds: list[str] | None, ids: list[uuid.UUID] | None, first: int
) -> list[asyncpg.Record]:
    params = Params()
    clauses = []
    if kinds is not None:
        clauses.append(f"v.kind = ANY({params.add(kinds, 'text[]')})")
    if ids is not None:
        clauses.append(f"v.entity_id = ANY({params.add(ids, 'uuid[]')})")
    sql = (
        f"SELECT {VEHICLE_COLUMNS} FROM atlas4d_mobility.vehicles v {where(clauses)} "
        f"ORDER BY v.label, v.entity_id LIMIT {params.add(first)}"
    )
    return list(await conn.fetch(sql, *params.values))


async def trips(
    conn: Conn, vehicle_ids: list[uuid.UUID] | None, time: TimeRange | None, first: int
) -> list[asyncpg.Record]:
    params = Params()
    clauses = overlap_sql(time, params, "t.start_time", "t.end_time")
    if vehicle_ids is not None:
        clauses.append(f"t.vehicle_id = ANY({params.add(vehicle_ids, 'uuid[]')})")
    sql = (
        f"SELECT {TRIP_COLUMNS} FROM atlas4d_mobility.trips t {where(clauses)} "
        f"ORDER BY t.start_time, t.track_id LIMIT {params.add(first)}"
    )
    return list(await conn.fetch(sql, *params.values))


async def stops(conn: Conn, bbox: BBox | None, first: int) -> list[asyncpg.Record]:
    params = Params()
    clauses = [bbox_sql(bbox, "s.geom", params)] if bbox is not None else []
    sql = (
        f"SELECT {STOP_COLUMNS} FROM atlas4d_mobility.stops s {where(clauses)} "
        f"ORDER BY s.name, s.id LIMIT {params.add(first)}"
    )
    return list(await conn.fetch(sql, *params.values))


async def geofences(conn: Conn, ids: list[uuid.UUID] | None, first: int) -> list[asyncpg.Record]:
    params = Params()
    clauses = [f"g.id = ANY({params.add(ids, 'uuid[]')})"] if ids is not None else []
    sql = (
        f"SELECT {GEOFENCE_COLUMNS} FROM atlas4d_mobility.geofences g {where(clauses)} "
        f"ORDER BY g.name, g.id LIMIT {params.add(first)}"
    )
    return list(await conn.fetch(sql, *params.values))


async def speeding_events(
    conn: Conn,
    time: TimeRange | None,
    geofence_ids: list[uuid.UUID] | None,
    entity_ids: list[uuid.UUID] | None,
    first: int,
) -> list[asyncpg.Record]:
    """Observations faster than the limit of a geofence they lie in (one row per observation and zone)."""
    params = Params()
    clauses = ["o.speed_ms IS NOT NULL", "o.speed_ms * 3.6 > g.speed_limit_kmh"]
    if time is not None:
        clauses.extend(time.sql("o.t", params))
    if geofence_ids is not None:
        clauses.append(f"g.id = ANY({params.add(geofence_ids, 'uuid[]')})")
    if entity_ids is not None:
        clauses.append(f"o.entity_id = ANY({params.add(entity_ids, 'uuid[]')})")
    sql = (
        "SELECT o.id AS observation_id, o.entity_id, o.t, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat, "
        "o.speed_ms * 3.6 AS speed_kmh, g.id AS geofence_id, g.speed_limit_kmh "
        "FROM atlas4d_mobility.geofences g "
        "JOIN atlas4d.observations_core o ON ST_Intersects(g.geom, o.geom) "
        f"{where(clauses)} ORDER BY o.t, o.id, g.id LIMIT {params.add(first)}"
    )
    return list(await conn.fetch(sql, *params.values))


@dataclass(frozen=True)
class DwellArgs:
    min_duration: timedelta
    radius_m: float
    time: TimeRange | None
    entity_ids: list[uuid.UUID] | None  # None: every vehicle of this module


async def dwell_events(conn: Conn, args: DwellArgs, first: int) -> list[asyncpg.Record]:
    time = args.time or TimeRange()
    sql = (
        "SELECT d.entity_id, d.start_time, d.end_time, d.lon, d.lat, d.point_count "
        "FROM atlas4d_mobility.dwell_events("
        "coalesce($1::uuid[], (SELECT array_agg(v.entity_id) FROM atlas4d_mobility.vehicles v)), "
        "$2::timestamptz, $3::timestamptz, $4::float8, $5::interval) d "
        "ORDER BY d.start_time, d.entity_id LIMIT $6"
    )
    return list(
        await conn.fetch(sql, args.entity_ids, time.start, time.end, args.radius_m, args.min_duration, first)
    )
