"""Incremental track refresh (migration 0006): a batch whose points all come after a track's stored end
extends the stored row; anything else rebuilds it. Either way the row must equal a rebuild from every
observation, and an appending batch must read only its own points."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from atlas4d.core.ingest import ObservationItem, ingest_observations

BASE = datetime(2026, 2, 1, tzinfo=UTC)
TRACKS = [uuid.UUID(int=77_000 + i) for i in range(3)]
ROW_SQL = (
    "SELECT id, entity_id, source_type, start_time, end_time, point_count, ST_AsEWKB(geom) AS geom, length_m "
    "FROM atlas4d.tracks ORDER BY id"
)

# a point: (track index, seconds after BASE, lon, lat, entity or None, source type or None)
points = st.tuples(
    st.integers(0, len(TRACKS) - 1),
    st.integers(0, 400),
    st.sampled_from([27.0, 27.5, 179.9, -179.9, 0.0]) | st.floats(-180, 180),
    st.sampled_from([42.0, 0.0, 89.9]) | st.floats(-90, 90),
    st.sampled_from([None, uuid.UUID(int=1), uuid.UUID(int=2)]),
    st.sampled_from([None, "gps", "ais"]),
)
# mostly appending batches (each later than the last), sometimes points anywhere in time
batches = st.lists(st.tuples(st.booleans(), st.lists(points, min_size=1, max_size=6)), min_size=1, max_size=6)


def as_items(batch: list[Any], offset: int) -> list[ObservationItem]:
    return [
        ObservationItem(
            time=BASE + timedelta(seconds=seconds + offset),
            lon=lon, lat=lat, entity_id=str(entity) if entity else None, source_type=source,
            track_id=str(TRACKS[track]),
        )
        for track, seconds, lon, lat, entity, source in batch
    ]  # fmt: skip


async def stored_and_rebuilt(pool: asyncpg.Pool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with pool.acquire() as conn:
        stored = [dict(r) for r in await conn.fetch(ROW_SQL)]
        tr = conn.transaction()
        await tr.start()
        await conn.execute("SELECT atlas4d.refresh_tracks(array_agg(id)) FROM atlas4d.tracks")
        rebuilt = [dict(r) for r in await conn.fetch(ROW_SQL)]
        await tr.rollback()
    return stored, rebuilt


def assert_same(stored: list[dict[str, Any]], rebuilt: list[dict[str, Any]]) -> None:
    assert len(stored) == len(rebuilt)
    for got, want in zip(stored, rebuilt, strict=True):
        got, want = dict(got), dict(want)
        assert got.pop("length_m") == pytest.approx(want.pop("length_m"), rel=1e-9, abs=1e-6)
        assert got == want  # geometry byte for byte (EWKB), counts, times, latest entity and source


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches)
# a subnormal latitude beside an antimeridian crossing: its interpolation underflowed (migration 0014)
@example([(False, [(0, 0, 179.9, 5e-324, None, None), (0, 10, -179.9, 0.0, None, None)])])
@example([(False, [(0, 0, 179.9, 0.0, None, None)]), (True, [(0, 0, -179.9, 5e-324, None, None)])])
async def test_every_refresh_equals_a_rebuild(clean_db: asyncpg.Pool, plan: list[Any]) -> None:
    await clean_db.execute("TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks")
    offset = 0
    for appending, batch in plan:
        if appending:
            offset += 1_000  # every point of the batch after every earlier one
        await ingest_observations(clean_db, as_items(batch, offset), max_batch=100, copy_threshold=3)
        stored, rebuilt = await stored_and_rebuilt(clean_db)
        assert_same(stored, rebuilt)


async def test_appending_reads_only_the_new_points(clean_db: asyncpg.Pool) -> None:
    """A point written behind the API's back (no refresh), inside the track's span, is invisible to an
    appending refresh — it reads after the stored end only — and a rebuild picks it up: proof that an append
    costs the new points, not the whole track."""
    track = TRACKS[0]
    first = [(0, s, 27.0 + s * 1e-3, 42.0, None, "gps") for s in range(0, 100, 10)]
    await ingest_observations(clean_db, as_items(first, 0), max_batch=100, copy_threshold=1000)
    await clean_db.execute(
        "INSERT INTO atlas4d.observations_core (t, geom, track_id) "
        "VALUES ($1, ST_SetSRID(ST_MakePoint(27.05, 42.0), 4326), $2)",
        BASE + timedelta(seconds=55),
        track,
    )
    later = [(0, s, 27.2, 42.1, None, None) for s in (200, 210)]
    await ingest_observations(clean_db, as_items(later, 0), max_batch=100, copy_threshold=1000)
    assert await clean_db.fetchval("SELECT point_count FROM atlas4d.tracks WHERE id = $1", track) == 12
    early = [(0, 5, 27.3, 42.2, None, None)]  # before the stored end: rebuilt, the stray point included
    await ingest_observations(clean_db, as_items(early, 0), max_batch=100, copy_threshold=1000)
    assert await clean_db.fetchval("SELECT point_count FROM atlas4d.tracks WHERE id = $1", track) == 14
    stored, rebuilt = await stored_and_rebuilt(clean_db)
    assert_same(stored, rebuilt)
