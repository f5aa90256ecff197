"""Load the vision demo scenario: camera and vehicle entities and the vehicles' passes go into core
through `atlas4d.core.ingest`; cameras and detections into `atlas4d_vision`, then detections are linked
to core tracks by `atlas4d_vision.link_detections` (the linking rule).

Detections are made from every observation of an entity of kind 'vehicle' inside a camera's field of
view: the scenario's own vehicles, and the core Burgas demo's when it is loaded. Idempotent: the previous
vision demo (cameras and their detections, its entities with their observations and tracks) is removed
first, in the same transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from atlas4d.core.ingest import EntityItem, ObservationItem, create_entities, ingest_observations
from atlas4d.modules.contract import SeedSummary
from atlas4d.modules.vision.scenario import (
    SCENARIO,
    Sighting,
    build_scenario,
    person_detections,
    vehicle_detections,
)
from atlas4d.modules.vision.settings import VisionSettings, current_settings

DELETE_PREVIOUS = """
WITH demo AS (
    SELECT id FROM atlas4d.entities WHERE id = ANY($1::uuid[]) OR properties @> $2::text::jsonb
), obs AS (
    DELETE FROM atlas4d.observations_core o USING demo WHERE o.entity_id = demo.id RETURNING 1
), tracks AS (
    DELETE FROM atlas4d.tracks tr USING demo WHERE tr.entity_id = demo.id RETURNING 1
), cameras AS (  -- their detections go with them (ON DELETE CASCADE)
    DELETE FROM atlas4d_vision.cameras c USING demo WHERE c.entity_id = demo.id RETURNING 1
)
DELETE FROM atlas4d.entities e USING demo WHERE e.id = demo.id
"""

SIGHTINGS = """
SELECT c.entity_id AS camera_id, o.t, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat, o.entity_id,
       coalesce(e.properties ->> 'vehicle_class', o.metadata ->> 'vehicle_class') AS vehicle_class
FROM atlas4d_vision.cameras c
JOIN atlas4d.observations_core o ON ST_Intersects(c.coverage, o.geom)
JOIN atlas4d.entities e ON e.id = o.entity_id AND e.kind = 'vehicle'
WHERE c.entity_id = ANY($1::uuid[])
ORDER BY c.entity_id, o.t, o.entity_id, o.id
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


async def link_detections(conn: asyncpg.Connection, ids: list[Any], settings: VisionSettings) -> int:
    """Apply the linking rule to these detections (again: late observations can change a link)."""
    linked = await conn.fetchval(
        "SELECT atlas4d_vision.link_detections($1::uuid[], $2, $3::text[])",
        ids,
        settings.link_radius_m,
        settings.link_classes,
    )
    return int(linked)


async def seed(
    conn: asyncpg.Connection,
    seed: int,
    *,
    end: datetime | None = None,
    settings: VisionSettings | None = None,
) -> SeedSummary:
    """`conn` must be set up like the pool's connections (`atlas4d.db.pool.init_connection`)."""
    scenario = build_scenario(seed, end or default_end())
    pool = cast(asyncpg.Pool, _ConnectionAsPool(conn))
    marker = f'{{"scenario": "{SCENARIO}"}}'
    camera_ids = [c.entity_id for c in scenario.cameras]
    async with conn.transaction():
        await conn.execute(DELETE_PREVIOUS, camera_ids + [v.entity_id for v in scenario.vehicles], marker)
        entities = [
            EntityItem(kind="camera", id=str(c.entity_id), name=c.name, source_type="camera",
                       properties={"scenario": SCENARIO})
            for c in scenario.cameras
        ] + [
            EntityItem(kind="vehicle", id=str(v.entity_id), name=v.name, source_type="vehicle",
                       properties={"scenario": SCENARIO, "vehicle_class": v.vehicle_class})
            for v in scenario.vehicles
        ]  # fmt: skip
        await create_entities(pool, entities, max_batch=len(entities), on_conflict="update")
        ingested = await ingest_observations(
            pool,
            [
                ObservationItem(
                    time=f.t,
                    lon=f.lon,
                    lat=f.lat,
                    altitude=None,
                    speed=f.speed_ms,
                    heading=f.heading_deg,
                    source_type="vehicle",
                    entity_id=str(f.entity_id),
                    entity_kind="vehicle",
                    track_id=str(f.track_id),
                )
                for f in scenario.fixes
            ],
            max_batch=len(scenario.fixes),
            copy_threshold=200,
        )
        await conn.executemany(
            "INSERT INTO atlas4d_vision.cameras (entity_id, name, geom, heading_deg, fov_deg, range_m, properties) "
            "VALUES ($1, $2, ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, $6, $7, $8::text::jsonb)",
            [
                (c.entity_id, c.name, c.lon, c.lat, c.heading_deg, c.fov_deg, c.range_m, marker)
                for c in scenario.cameras
            ],
        )
        sightings = [Sighting(**dict(r)) for r in await conn.fetch(SIGHTINGS, camera_ids)]
        detections = vehicle_detections(seed, scenario.cameras, sightings) + person_detections(
            seed, scenario.cameras, scenario.start
        )
        await conn.executemany(
            "INSERT INTO atlas4d_vision.detections (id, camera_id, t, class, confidence, box_x, box_y, box_w, "
            "box_h, geom, properties) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
            "ST_SetSRID(ST_MakePoint($10, $11), 4326), $12::text::jsonb) ON CONFLICT (id) DO NOTHING",
            [
                (d.id, d.camera_id, d.t, d.detection_class, d.confidence, *d.box, d.lon, d.lat, marker)
                for d in detections
            ],
        )
        linked = await link_detections(conn, [d.id for d in detections], settings or current_settings())
    return SeedSummary(
        rows={
            "cameras": len(scenario.cameras),
            "vehicles": len(scenario.vehicles),
            "observations": ingested.accepted,
            "tracks": ingested.tracks_updated,
            "detections": len(detections),
            "linked_detections": linked,
        }
    )
