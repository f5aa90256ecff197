"""Load the airspace demo scenario: aircraft entities and their flights go into core through
`atlas4d.core.ingest`, aircraft records and zones into `atlas4d_airspace`.

Idempotent: the previous airspace demo (its entities, their observations and tracks, its zones) is
removed first, in the same transaction. Works with or without the core Burgas demo loaded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from atlas4d.core.ingest import EntityItem, ObservationItem, create_entities, ingest_observations
from atlas4d.modules.airspace.loaders import violations_sql
from atlas4d.modules.airspace.scenario import SCENARIO, build_scenario
from atlas4d.modules.contract import SeedSummary

DELETE_PREVIOUS = """
WITH demo AS (
    SELECT id FROM atlas4d.entities WHERE id = ANY($1::uuid[]) OR properties @> $2::text::jsonb
), obs AS (
    DELETE FROM atlas4d.observations_core o USING demo WHERE o.entity_id = demo.id RETURNING 1
), tracks AS (
    DELETE FROM atlas4d.tracks tr USING demo WHERE tr.entity_id = demo.id RETURNING 1
), aircraft AS (
    DELETE FROM atlas4d_airspace.aircraft a USING demo WHERE a.entity_id = demo.id RETURNING 1
), zones AS (
    DELETE FROM atlas4d_airspace.restricted_zones z WHERE z.id = ANY($3::uuid[]) OR z.properties @> $2::text::jsonb
    RETURNING 1
)
DELETE FROM atlas4d.entities e USING demo WHERE e.id = demo.id
"""


class _ConnectionAsPool:
    """Lets the core ingest functions (written against a pool) run on the seed's connection, inside its
    transaction (their own transactions become savepoints)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        yield self._conn

    async def fetch(self, *args: Any) -> list[asyncpg.Record]:
        return await self._conn.fetch(*args)


def default_end() -> datetime:
    """The current UTC hour, as the core Burgas demo uses, so both scenarios cover the same day."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


async def seed(conn: asyncpg.Connection, seed: int, *, end: datetime | None = None) -> SeedSummary:
    """`conn` must be set up like the pool's connections (`atlas4d.db.pool.init_connection`)."""
    scenario = build_scenario(seed, end or default_end())
    pool = cast(asyncpg.Pool, _ConnectionAsPool(conn))
    marker = f'{{"scenario": "{SCENARIO}"}}'
    async with conn.transaction():
        await conn.execute(
            DELETE_PREVIOUS, [a.entity_id for a in scenario.aircraft], marker, [z.id for z in scenario.zones]
        )
        await create_entities(
            pool,
            [
                EntityItem(
                    kind="aircraft",
                    id=str(a.entity_id),
                    name=a.callsign,
                    source_type="adsb",
                    properties={"scenario": SCENARIO, "icao24": a.icao24, "registration": a.registration},
                )
                for a in scenario.aircraft
            ],
            max_batch=len(scenario.aircraft),
            on_conflict="update",
        )
        summary = await ingest_observations(
            pool,
            [
                ObservationItem(
                    time=f.t,
                    lon=f.lon,
                    lat=f.lat,
                    altitude=f.altitude_m,
                    speed=f.speed_ms,
                    heading=f.heading_deg,
                    source_type="adsb",
                    entity_id=str(f.entity_id),
                    entity_kind="aircraft",
                    track_id=str(f.track_id),
                    metadata={"callsign": f.callsign},
                )
                for f in scenario.fixes
            ],
            max_batch=len(scenario.fixes),
            copy_threshold=200,
        )
        await conn.executemany(
            "INSERT INTO atlas4d_airspace.aircraft (entity_id, icao24, callsign, type_code, registration, "
            "properties) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)",
            [
                (a.entity_id, a.icao24, a.callsign, a.type_code, a.registration, marker)
                for a in scenario.aircraft
            ],
        )
        await conn.executemany(
            "INSERT INTO atlas4d_airspace.restricted_zones (id, name, kind, geom, floor_m, ceiling_m, "
            "active_from, active_to, properties) "
            "VALUES ($1, $2, $3, ST_Multi(ST_GeomFromText($4, 4326)), $5, $6, $7, $8, $9::text::jsonb)",
            [
                (z.id, z.name, z.kind, z.wkt, z.floor_m, z.ceiling_m, z.active_from, z.active_to, marker)
                for z in scenario.zones
            ],
        )
        violations = await conn.fetchval(
            f"SELECT count(*) FROM ({violations_sql(['o.entity_id = ANY($1::uuid[])'])}) v",
            [a.entity_id for a in scenario.aircraft],
        )
    return SeedSummary(
        rows={
            "aircraft": len(scenario.aircraft),
            "restricted_zones": len(scenario.zones),
            "observations": summary.accepted,
            "tracks": summary.tracks_updated,
            "violations": int(violations),
        }
    )
