"""The Burgas scenario of the original Atlas4D, generated deterministically and loaded by COPY.

`build_burgas(seed, end)` is pure: the same seed and end give the same rows. `load_burgas` replaces any
previous Burgas demo rows (entities have seed-independent uuid5 ids; their observations, tracks and the
anomalies on those observations go with them) and loads the new ones in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from atlas4d.demo import network, vehicles
from atlas4d.demo.burgas_map import AREA
from atlas4d.demo.rows import (
    ANOMALY_COLUMNS,
    ENTITY_COLUMNS,
    OBSERVATION_COLUMNS,
    Anomaly,
    Entity,
    Observation,
)
from atlas4d.errors import BadTimeRange

WINDOW = timedelta(hours=24)

DELETE_PREVIOUS = """
WITH demo AS (
    SELECT id FROM atlas4d.entities WHERE id = ANY($1::uuid[]) OR properties @> '{"scenario": "burgas"}'
), gone AS (
    DELETE FROM atlas4d.observations_core o USING demo WHERE o.entity_id = demo.id RETURNING o.id
), anomalies AS (
    DELETE FROM atlas4d.anomalies a WHERE a.observation_id IN (SELECT id FROM gone) RETURNING 1
), tracks AS (
    DELETE FROM atlas4d.tracks tr USING demo WHERE tr.entity_id = demo.id RETURNING 1
), entities AS (
    DELETE FROM atlas4d.entities e USING demo WHERE e.id = demo.id RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS observations
"""
RESERVE_IDS = "SELECT nextval(pg_get_serial_sequence('atlas4d.observations_core', 'id')) FROM generate_series(1, $1::int)"


@dataclass(frozen=True)
class BurgasScenario:
    start: datetime
    end: datetime
    entities: list[Entity]
    observations: list[Observation]
    anomalies: list[Anomaly]
    track_ids: list[uuid.UUID]
    vehicle_observations: int


@dataclass(frozen=True)
class DemoSummary:
    seed: int
    start: datetime
    end: datetime
    entities: int
    vehicles: int
    network_nodes: int
    observations: int
    vehicle_observations: int
    network_observations: int
    tracks: int
    anomalies: int
    replaced_observations: int
    bbox: tuple[float, float, float, float] = AREA


def default_end() -> datetime:
    """The current UTC hour: reloading within the hour gives the same rows."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def build_burgas(seed: int = 42, end: datetime | None = None) -> BurgasScenario:
    end = default_end() if end is None else end
    if end.tzinfo is None or end.utcoffset() is None:
        raise BadTimeRange("the demo's end time must carry a time zone", field="end")
    end = end.astimezone(UTC)
    start = end - WINDOW
    fleet = vehicles.vehicle_fleet(seed, start, end)
    net = network.access_network(seed, start, end)
    offset = len(fleet.observations)
    anomalies = [
        Anomaly(a.observation_index + offset, a.anomaly_type, a.severity, a.score, a.detected_at, a.metadata)
        for a in net.anomalies
    ]
    return BurgasScenario(
        start=start,
        end=end,
        entities=fleet.entities + net.entities,
        observations=fleet.observations + net.observations,
        anomalies=anomalies,
        track_ids=fleet.track_ids,
        vehicle_observations=len(fleet.observations),
    )


async def load_burgas(
    conn: asyncpg.Connection | PoolConnectionProxy, *, seed: int = 42, end: datetime | None = None
) -> DemoSummary:
    """Replace the Burgas demo rows with a fresh scenario; one transaction, COPY for every table.

    `conn` must be set up like the pool's connections (`atlas4d.db.pool.init_connection`: jsonb as Python
    objects, geometry as EWKB).
    """
    scenario = build_burgas(seed, end)
    entity_ids = [e.id for e in scenario.entities]
    async with conn.transaction():
        replaced = await conn.fetchval(DELETE_PREVIOUS, entity_ids)
        ids = [r[0] for r in await conn.fetch(RESERVE_IDS, len(scenario.observations))]
        await conn.copy_records_to_table(
            "entities",
            schema_name="atlas4d",
            columns=ENTITY_COLUMNS,
            records=[e.record(scenario.start) for e in scenario.entities],
        )
        await conn.copy_records_to_table(
            "observations_core",
            schema_name="atlas4d",
            columns=OBSERVATION_COLUMNS,
            records=[o.record(i) for o, i in zip(scenario.observations, ids, strict=True)],
        )
        await conn.copy_records_to_table(
            "anomalies",
            schema_name="atlas4d",
            columns=ANOMALY_COLUMNS,
            records=[a.record(ids[a.observation_index]) for a in scenario.anomalies],
        )
        tracks = await conn.fetchval("SELECT atlas4d.refresh_tracks($1::uuid[])", scenario.track_ids)
    kinds = [e.kind for e in scenario.entities]
    return DemoSummary(
        seed=seed,
        start=scenario.start,
        end=scenario.end,
        entities=len(scenario.entities),
        vehicles=kinds.count("vehicle"),
        network_nodes=len(kinds) - kinds.count("vehicle"),
        observations=len(scenario.observations),
        vehicle_observations=scenario.vehicle_observations,
        network_observations=len(scenario.observations) - scenario.vehicle_observations,
        tracks=int(tracks),
        anomalies=len(scenario.anomalies),
        replaced_observations=int(replaced),
    )
