"""Per-request DataLoaders of the airspace module: one SQL statement per batch, results in key order.

Violations are computed on query from core observations (docs/modules/airspace.md says why): an
observation of an aircraft's track violates a zone when it lies in the zone's polygon, its altitude is
within [floor, ceiling] and its time within the zone's active window [from, to). A violation groups
those observations by (track, zone): first and last time inside, lowest and highest altitude inside.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
from aiodataloader import DataLoader

from atlas4d.core.filters import TimeRange
from atlas4d.core.loaders.base import LoaderCache, Row, by_key, grouped
from atlas4d.core.sql import Params

AIRCRAFT_COLUMNS = "a.entity_id, a.icao24, a.callsign, a.type_code, a.registration"
ZONE_COLUMNS = (
    "z.id, z.name, z.kind, z.floor_m, z.ceiling_m, z.active_from, z.active_to, "
    "ST_AsGeoJSON(z.geom, 7)::json AS geometry"
)


def violations_sql(
    observation_clauses: Sequence[str], zone_clauses: Sequence[str] = (), limit: str | None = None
) -> str:
    """Violations (one row per track and zone) among the aircraft observations matching
    `observation_clauses` (over `o`, i.e. `atlas4d.observations_core`) and the zones matching
    `zone_clauses` (over `z`, i.e. `atlas4d_airspace.restricted_zones`).

    The observations are gathered first, aircraft by aircraft (index on `(entity_id, t)`, or on
    `(track_id, t)` when tracks are named; `OFFSET 0` keeps the planner from flattening the lateral), then
    tested against the zones (GIST). Left to itself the planner starts from the zones' footprints, which
    over a city also hold every car: on the Burgas demo that read 16,000 vehicle observations to find 200
    aircraft ones.
    """
    o_extra = "".join(f" AND {c}" for c in observation_clauses)
    z_extra = "".join(f" AND {c}" for c in zone_clauses)
    return (
        "WITH o AS MATERIALIZED (SELECT x.* FROM atlas4d_airspace.aircraft a CROSS JOIN LATERAL ("
        "SELECT o.track_id, o.entity_id, o.t, o.geom, o.altitude_m FROM atlas4d.observations_core o "
        f"WHERE o.entity_id = a.entity_id AND o.track_id IS NOT NULL AND o.altitude_m IS NOT NULL{o_extra} "
        "OFFSET 0) x) "
        "SELECT o.track_id, z.id AS zone_id, o.entity_id, min(o.t) AS entered_at, max(o.t) AS exited_at, "
        "min(o.altitude_m) AS min_altitude_m, max(o.altitude_m) AS max_altitude_m, "
        "count(*)::integer AS observation_count "
        "FROM o JOIN atlas4d_airspace.restricted_zones z ON ST_Intersects(z.geom, o.geom) "
        "WHERE o.altitude_m BETWEEN z.floor_m AND z.ceiling_m "
        "AND (z.active_from IS NULL OR o.t >= z.active_from) AND (z.active_to IS NULL OR o.t < z.active_to)"
        f"{z_extra} GROUP BY o.track_id, z.id, o.entity_id ORDER BY min(o.t), o.track_id, z.id"
        + (f" LIMIT {limit}" if limit else "")
    )


class AirspaceLoaders(LoaderCache):
    """Built once per request by `Context.module_loaders("airspace")`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self._pool = pool

    def aircraft(self) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            rows = await self._pool.fetch(
                f"SELECT {AIRCRAFT_COLUMNS} FROM atlas4d_airspace.aircraft a WHERE a.entity_id = ANY($1::uuid[])",
                keys,
            )
            return by_key(rows, keys, "entity_id")

        return self.loader("aircraft", batch)

    def zone(self) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            rows = await self._pool.fetch(
                f"SELECT {ZONE_COLUMNS} FROM atlas4d_airspace.restricted_zones z WHERE z.id = ANY($1::uuid[])",
                keys,
            )
            return by_key(rows, keys, "id")

        return self.loader("zone", batch)

    def violations_by(self, column: str, time: TimeRange | None) -> DataLoader[uuid.UUID, list[Row]]:
        """Violations grouped by `column`: track_id (Track.violations), zone_id (RestrictedZone.violations)
        or entity_id (Aircraft.violations); `time` limits the observations considered."""
        if column not in ("track_id", "zone_id", "entity_id"):
            raise ValueError(f"no violations by {column}")

        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            params = Params()
            keyed = f"= ANY({params.add(keys, 'uuid[]')})"
            observations = time.sql("o.t", params) if time is not None else []
            zones = []
            if column == "zone_id":
                zones.append(f"z.id {keyed}")
            else:
                observations.append(f"o.{column} {keyed}")
            rows = await self._pool.fetch(violations_sql(observations, zones), *params.values)
            return grouped(rows, keys, column)

        return self.loader(("violations", column, time), batch)

    def flights(self, time: TimeRange | None) -> DataLoader[uuid.UUID, list[Row]]:
        """Core tracks of each aircraft entity whose time span overlaps `time`, oldest first."""

        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            params = Params()
            clauses = [f"tr.entity_id = ANY({params.add(keys, 'uuid[]')})"]
            if time is not None and time.start is not None:
                clauses.append(f"tr.end_time >= {params.add(time.start)}")
            if time is not None and time.end is not None:
                clauses.append(f"tr.start_time < {params.add(time.end)}")
            rows = await self._pool.fetch(
                f"SELECT tr.id, tr.entity_id FROM atlas4d.tracks tr WHERE {' AND '.join(clauses)} "
                "ORDER BY tr.start_time, tr.id",
                *params.values,
            )
            return grouped(rows, keys, "entity_id")

        return self.loader(("flights", time), batch)
