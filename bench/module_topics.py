"""What a module subscription costs the hub per batch of new observations (`python -m bench.module_topics`).

Core already reads every batch back once (`READ_OBSERVATIONS`, the floor here); a module topic with subscribers
adds one statement per batch and tenant: airspace's `zone_events` (each aircraft observation and its previous
one against 3D zones) and mobility's `geofence_events` (each observation and its previous one against
geofences). Measured on a scratch database: 200 aircraft flying over 60 zones and 60 geofences, batches of 5,000
observations (25 per aircraft, time-ordered, one INSERT each) on top of the history of the earlier batches;
the median of ROUNDS batches, each statement timed in its own read-only transaction like the hub's.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from atlas4d.app import all_migrations
from atlas4d.db.pool import create_pool, migrate_database
from atlas4d.modules.airspace import module as airspace
from atlas4d.modules.airspace.live import ZONE_EVENTS_SQL
from atlas4d.modules.mobility import module as mobility
from atlas4d.modules.mobility.live import GEOFENCE_EVENTS_SQL
from atlas4d.settings import Settings
from bench.prepare import scratch_database

BENCH_DB = "atlas4d_bench_module_topics"
AIRCRAFT, ZONES, FENCES, PER_AIRCRAFT, ROUNDS = 200, 60, 60, 25, 7
T0 = datetime(2026, 9, 1, tzinfo=UTC)


async def seed(conn: Any, rng: random.Random) -> list[tuple[uuid.UUID, uuid.UUID]]:
    planes = [(uuid.uuid4(), uuid.uuid4()) for _ in range(AIRCRAFT)]
    await conn.executemany(
        "INSERT INTO atlas4d.entities (id, kind, name) VALUES ($1, 'aircraft', 'bench')",
        [(p,) for p, _ in planes],
    )
    await conn.executemany(
        "INSERT INTO atlas4d_airspace.aircraft (entity_id, icao24) VALUES ($1, $2)",
        [(p, f"{i:06x}") for i, (p, _) in enumerate(planes)],
    )
    for i in range(ZONES):
        x, y = rng.uniform(20, 21.8), rng.uniform(40, 41.8)
        await conn.execute(
            "INSERT INTO atlas4d_airspace.restricted_zones (id, name, kind, geom, floor_m, ceiling_m) VALUES "
            "($1, $2, 'bench', ST_Multi(ST_MakeEnvelope($3::float8, $4::float8, $3::float8 + 0.2, $4::float8 + 0.2, 4326)), 0, 5000)",
            uuid.uuid4(),
            f"zone {i}",
            x,
            y,
        )
    for i in range(FENCES):
        x, y = rng.uniform(20, 21.8), rng.uniform(40, 41.8)
        await conn.execute(
            "INSERT INTO atlas4d_mobility.geofences (id, name, speed_limit_kmh, geom) VALUES "
            "($1, $2, 50, ST_MakeEnvelope($3::float8, $4::float8, $3::float8 + 0.2, $4::float8 + 0.2, 4326))",
            uuid.uuid4(),
            f"fence {i}",
            x,
            y,
        )
    return planes


async def write_batch(
    conn: Any, rng: random.Random, planes: list[tuple[uuid.UUID, uuid.UUID]], round_: int
) -> tuple[int, int, datetime, datetime]:
    rows = []
    for plane, track in planes:
        for i in range(PER_AIRCRAFT):
            t = T0 + timedelta(seconds=(round_ * PER_AIRCRAFT + i) * 10)
            lon, lat = rng.uniform(20, 22), rng.uniform(40, 42)
            rows.append((t, lon, lat, rng.uniform(0, 8000), rng.uniform(0, 40), plane, track))
    rows.sort(key=lambda r: r[0])
    ids = await conn.fetch(
        "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, altitude_m, speed_ms, entity_id, track_id) "
        "SELECT u.t, u.lon, u.lat, ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326), u.alt, u.speed, u.e, u.k "
        "FROM unnest($1::timestamptz[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::uuid[], "
        "$7::uuid[]) AS u(t, lon, lat, alt, speed, e, k) RETURNING id",
        *[list(c) for c in zip(*rows, strict=True)],
    )
    return min(r["id"] for r in ids), max(r["id"] for r in ids), rows[0][0], rows[-1][0]


async def timed(pool: asyncpg.Pool, sql: str, *args: object) -> tuple[float, int]:
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        start = time.perf_counter()
        rows = await conn.fetch(sql, *args)
        return time.perf_counter() - start, len(rows)


async def main() -> None:
    from atlas4d.core.live import (
        READ_OBSERVATIONS,
    )  # after the modules: core.live and core.schema import each other

    settings = Settings()
    admin, url = await scratch_database(settings, BENCH_DB)
    try:
        await migrate_database(settings, url, all_migrations([airspace, mobility]))
        pool = await create_pool(settings, url)
        rng = random.Random(42)
        try:
            async with pool.acquire() as conn:
                planes = await seed(conn, rng)
            results: dict[str, list[float]] = {"core read-back": [], "zone_events": [], "geofence_events": []}
            counts: dict[str, int] = {}
            for round_ in range(ROUNDS):
                async with pool.acquire() as conn:
                    lo, hi, t_min, t_max = await write_batch(conn, rng, planes, round_)
                args = ([lo], [hi], t_min, t_max)
                for name, sql in (
                    ("core read-back", READ_OBSERVATIONS),
                    ("zone_events", ZONE_EVENTS_SQL),
                    ("geofence_events", GEOFENCE_EVENTS_SQL),
                ):
                    seconds, n = await timed(pool, sql, *args)
                    results[name].append(seconds)
                    counts[name] = n
        finally:
            await pool.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        await admin.close()
    batch = AIRCRAFT * PER_AIRCRAFT
    floor = statistics.median(results["core read-back"])
    print(
        f"batch of {batch} observations, {AIRCRAFT} aircraft, {ZONES} zones, {FENCES} geofences; load {os.getloadavg()}"
    )
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"  {name:16s} median {median * 1000:7.1f} ms  ({median / batch * 1e6:5.1f} us/observation, "
            f"{median / floor:4.2f}x the read-back; last batch {counts[name]} rows)"
        )


if __name__ == "__main__":
    asyncio.run(main())
