"""Benchmark data at scale: `observations` rows over `entities` moving things for `days` days.

Entities move inside lon 27..28, lat 42..43 (around Burgas): one trip a day each, sampled at a fixed
interval, as a random walk of heading and speed folded back into the box; speed and heading are computed
from the positions actually written, so they agree with the track. Vehicles (gps), vessels (ais) and
aircraft (adsb, with altitude) alternate. Ids are uuid5 of the seed, so seeding again with the same seed
replaces that seed's rows instead of adding to them. Rows go in by binary COPY in batches, over several
connections when given a pool; tracks are refreshed and the table analysed at the end.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
from asyncpg.pool import PoolConnectionProxy

from atlas4d.demo.rows import ENTITY_COLUMNS, demo_id
from atlas4d.errors import BadInput

BOX = (27.0, 42.0, 28.0, 43.0)
BATCH_ROWS = 50_000
REFRESH_TRACKS = 500
COLUMNS = (
    "t", "geom", "source_type", "track_id", "entity_id", "lat", "lon", "altitude_m", "speed_ms", "heading_deg",
)  # fmt: skip
# kind, source type, sample interval (s), speed range (m/s), altitude range (m)
KINDS: tuple[tuple[str, str, float, tuple[float, float], tuple[float, float]], ...] = (
    ("vehicle", "gps", 10.0, (3.0, 30.0), (0.0, 60.0)),
    ("vessel", "ais", 30.0, (1.0, 10.0), (0.0, 0.0)),
    ("aircraft", "adsb", 5.0, (70.0, 240.0), (900.0, 11_000.0)),
)
M_PER_DEG_LAT = 111_195.0

Connectable = asyncpg.Connection | asyncpg.Pool
Conn = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class SeedSummary:
    seed: int
    observations: int
    entities: int
    tracks: int
    start: datetime
    end: datetime
    seconds: float


def _entity_records(seed: int, count: int, created: datetime) -> list[tuple[Any, ...]]:
    records = []
    for i in range(count):
        kind, source, *_ = KINDS[i % len(KINDS)]
        props = {"scale_seed": seed, "index": i}
        records.append((demo_id("scale", seed, i), kind, f"{kind}-{seed}-{i:06d}", source, props, created))
    return records


def _fold(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Reflect into [0, 1] (a walker bounces off the box walls)."""
    m = np.mod(x, 2.0)
    folded: np.ndarray[Any, Any] = np.where(m > 1.0, 2.0 - m, m)
    return folded


def _ewkb(lon: np.ndarray[Any, Any], lat: np.ndarray[Any, Any]) -> list[bytes]:
    n = len(lon)
    buf = np.empty(n, dtype=[("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])
    buf["order"], buf["type"], buf["srid"], buf["x"], buf["y"] = 1, 0x20000001, 4326, lon, lat
    raw = buf.tobytes()
    return [raw[i * 25 : (i + 1) * 25] for i in range(n)]


def _trip(
    rng: np.random.Generator, entity: int, n: int, day_start: float, kind: tuple[Any, ...]
) -> tuple[np.ndarray[Any, Any], ...]:
    """Times (epoch s), lon, lat, altitude, speed, heading of one trip of n samples inside one day."""
    _, _, interval, (v_lo, v_hi), (a_lo, a_hi) = kind
    dt = min(interval, 0.9 * 86_400 / max(n, 1))
    t0 = day_start + rng.uniform(0, 86_400 - n * dt)
    times = t0 + dt * np.arange(n)
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.15, n))
    speed = np.clip(rng.uniform(v_lo, v_hi) + np.cumsum(rng.normal(0, 0.02 * v_hi, n)), v_lo, v_hi)
    lat0 = rng.uniform(0, 1)
    cos_lat = np.cos(np.radians(BOX[1] + 0.5))
    y = lat0 + np.concatenate(([0.0], np.cumsum(speed[:-1] * dt * np.cos(heading[:-1])))) / M_PER_DEG_LAT
    x = rng.uniform(0, 1) + np.concatenate(([0.0], np.cumsum(speed[:-1] * dt * np.sin(heading[:-1])))) / (
        M_PER_DEG_LAT * cos_lat
    )
    lon, lat = BOX[0] + _fold(x), BOX[1] + _fold(y)
    # what was written decides speed and heading: the move to the next sample (the last repeats)
    dx = np.diff(lon) * M_PER_DEG_LAT * cos_lat
    dy = np.diff(lat) * M_PER_DEG_LAT
    step_speed = np.append(np.hypot(dx, dy) / dt, 0.0) if n > 1 else np.zeros(1)
    step_heading = np.degrees(np.arctan2(dx, dy)) % 360.0 if n > 1 else np.zeros(0)
    step_heading = np.append(step_heading, step_heading[-1] if n > 1 else 0.0)
    altitude = np.full(n, a_lo) if a_hi == a_lo else np.clip(
        rng.uniform(a_lo, a_hi) + np.cumsum(rng.normal(0, 15, n)), a_lo, a_hi
    )  # fmt: skip
    return times, lon, lat, altitude, step_speed, step_heading


def _entity_batches(
    seed: int, first: int, last: int, per_entity: list[int], days: int, start_epoch: float
) -> Iterator[tuple[list[tuple[Any, ...]], list[uuid.UUID]]]:
    """COPY records for entities [first, last), in batches of about BATCH_ROWS, with their track ids."""
    records: list[tuple[Any, ...]] = []
    tracks: list[uuid.UUID] = []
    for e in range(first, last):
        rng = np.random.default_rng([seed, e])
        kind = KINDS[e % len(KINDS)]
        entity_id = demo_id("scale", seed, e)
        per_day = [per_entity[e] // days + (1 if d < per_entity[e] % days else 0) for d in range(days)]
        for day, n in enumerate(per_day):
            if n == 0:
                continue
            track_id = demo_id("scale", seed, e, "day", day)
            times, lon, lat, alt, speed, heading = _trip(rng, e, n, start_epoch + day * 86_400, kind)
            geoms = _ewkb(lon, lat)
            ts = [datetime.fromtimestamp(float(x), UTC) for x in times]
            records.extend(
                zip(
                    ts, geoms, [kind[1]] * n, [track_id] * n, [entity_id] * n, lat.tolist(), lon.tolist(),
                    alt.round(1).tolist(), speed.round(2).tolist(), heading.round(1).tolist(), strict=True,
                )
            )  # fmt: skip
            tracks.append(track_id)
        if len(records) >= BATCH_ROWS:
            yield records, tracks
            records, tracks = [], []
    if records:
        yield records, tracks


async def _load_range(
    conn: Conn,
    seed: int,
    bounds: tuple[int, int],
    per_entity: list[int],
    days: int,
    start_epoch: float,
    progress: Callable[[int], None] | None,
) -> list[uuid.UUID]:
    tracks: list[uuid.UUID] = []
    for records, batch_tracks in _entity_batches(seed, *bounds, per_entity, days, start_epoch):
        await conn.copy_records_to_table(
            "observations_core", schema_name="atlas4d", columns=COLUMNS, records=records
        )
        tracks.extend(batch_tracks)
        if progress is not None:
            progress(len(records))
        await asyncio.sleep(0)  # let the other loaders generate while this one's server work is done
    return tracks


async def seed_scale(
    conn_or_pool: Connectable,
    *,
    observations: int,
    entities: int,
    days: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    end: datetime | None = None,
) -> SeedSummary:
    """Write `observations` rows for `entities` entities over `days` days ending at `end` (default: this hour).

    `progress` is called with the number of rows each COPY batch just wrote. The connection (or the pool's
    connections) must be set up like the pool's: geometry as EWKB bytes.
    """
    if observations < 0 or entities < 1 or days < 1:
        raise BadInput("seed needs observations >= 0, entities >= 1 and days >= 1")
    began = time.monotonic()
    end = (end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)).astimezone(UTC)
    start = end - timedelta(days=days)
    per_entity = [
        observations // entities + (1 if i < observations % entities else 0) for i in range(entities)
    ]
    entity_rows = _entity_records(seed, entities, start)
    ids = [r[0] for r in entity_rows]
    pool = conn_or_pool if isinstance(conn_or_pool, asyncpg.Pool) else None
    async with _connection(conn_or_pool) as conn, conn.transaction():
        await conn.execute("DELETE FROM atlas4d.observations_core WHERE entity_id = ANY($1::uuid[])", ids)
        await conn.execute("DELETE FROM atlas4d.tracks WHERE entity_id = ANY($1::uuid[])", ids)
        await conn.execute("DELETE FROM atlas4d.entities WHERE id = ANY($1::uuid[])", ids)
        await conn.copy_records_to_table(
            "entities", schema_name="atlas4d", columns=ENTITY_COLUMNS, records=entity_rows
        )
    workers = min(pool.get_max_size(), 4, entities) if pool is not None else 1
    cuts = [entities * w // workers for w in range(workers + 1)]
    start_epoch = start.timestamp()

    async def worker(w: int) -> list[uuid.UUID]:
        async with _connection(conn_or_pool) as conn:
            return await _load_range(
                conn, seed, (cuts[w], cuts[w + 1]), per_entity, days, start_epoch, progress
            )

    track_lists = await asyncio.gather(*(worker(w) for w in range(workers)))
    tracks = [t for ts in track_lists for t in ts]

    async def refresh(part: list[uuid.UUID]) -> None:
        # in statements of REFRESH_TRACKS tracks: one statement for 7,000 tracks of a 10M seed ran past the
        # pool's statement timeout on a loaded machine
        async with _connection(conn_or_pool) as conn:
            for i in range(0, len(part), REFRESH_TRACKS):
                await conn.execute("SELECT atlas4d.refresh_tracks($1::uuid[])", part[i : i + REFRESH_TRACKS])

    await asyncio.gather(*(refresh(tracks[w::workers]) for w in range(workers) if tracks[w::workers]))
    async with _connection(conn_or_pool) as conn:
        await conn.execute("ANALYZE atlas4d.observations_core")
        await conn.execute("ANALYZE atlas4d.tracks")
    return SeedSummary(seed, observations, entities, len(tracks), start, end, time.monotonic() - began)


@asynccontextmanager
async def _connection(source: Connectable) -> AsyncIterator[Conn]:
    """One connection: acquired from a pool, or the given connection itself (calls then run one at a time)."""
    if isinstance(source, asyncpg.Pool):
        async with source.acquire() as conn:
            yield conn
    else:
        yield source
