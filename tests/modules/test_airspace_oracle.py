"""Zone violations on random zones and flights equal the Python oracle (shapely + altitude + time),
through the root field and through `_entities` on Track (hypothesis, few examples)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from module_helpers import migrate_module, serve_modules
from test_airspace import (
    END,
    VIOLATION_FIELDS,
    as_found,
    gql,
    oracle_inputs,
    oracle_violations,
)

from atlas4d.core.ingest import ObservationItem, ingest_observations
from atlas4d.modules.airspace import module
from atlas4d.settings import Settings


@pytest.fixture(scope="module")
async def airspace(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve_modules(settings, database_url, [module]):
        yield client


LON0, LAT0 = 27.515, 42.570
offset = st.floats(-0.008, 0.008, allow_subnormal=False)
hundreds = st.integers(0, 20).map(
    lambda n: n * 100.0
)  # shared steps, so altitudes land on floors and ceilings
minutes = st.integers(0, 60)
zones = st.lists(
    st.tuples(
        offset, offset, st.floats(0.001, 0.01), hundreds, hundreds, st.none() | minutes, st.none() | minutes
    ),
    min_size=1,
    max_size=3,
)
tracks = st.lists(
    st.lists(
        st.tuples(st.integers(0, 3600), offset, offset, st.one_of(hundreds, hundreds, hundreds, st.none())),
        min_size=2,
        max_size=10,
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(zones=zones, tracks=tracks, window=st.none() | st.tuples(minutes, st.integers(1, 60)))
async def test_random_violations_equal_the_oracle(
    pool: asyncpg.Pool, airspace: httpx.AsyncClient, zones: list[Any], tracks: list[Any], window: Any
) -> None:
    await migrate_module(pool, module)
    await pool.execute(
        "TRUNCATE atlas4d.observations_core, atlas4d.tracks, atlas4d.entities, "
        "atlas4d_airspace.aircraft, atlas4d_airspace.restricted_zones"
    )
    items = [
        ObservationItem(time=END + timedelta(seconds=s), lon=LON0 + dx, lat=LAT0 + dy, altitude=alt,
                        entity_id=str(uuid.UUID(int=i + 1)), entity_kind="aircraft" if i % 2 == 0 else "drone",
                        track_id=str(uuid.UUID(int=1000 + i)))
        for i, points in enumerate(tracks) for s, dx, dy, alt in points
    ]  # fmt: skip
    await ingest_observations(pool, items, max_batch=100, copy_threshold=1000)
    # even tracks belong to registered aircraft; odd ones to drones, whose tracks never count
    await pool.executemany(
        "INSERT INTO atlas4d_airspace.aircraft (entity_id, icao24) VALUES ($1, $2)",
        [(uuid.UUID(int=i + 1), f"{i + 1:06x}") for i in range(0, len(tracks), 2)],
    )
    await pool.executemany(
        "INSERT INTO atlas4d_airspace.restricted_zones (id, name, kind, geom, floor_m, ceiling_m, active_from, "
        "active_to) VALUES ($1, $2, 'restricted', ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, 8)), "
        "$6, $7, $8, $9)",
        [
            (uuid.UUID(int=5000 + k), f"z{k}", LON0 + dx, LAT0 + dy, r, min(a, b), max(a, b),
             END + timedelta(minutes=f) if f is not None else None,
             END + timedelta(minutes=(f or 0) + 1 + to) if to is not None else None)
            for k, (dx, dy, r, a, b, f, to) in enumerate(zones)
        ],
    )  # fmt: skip
    time = None
    start = end = None
    if window is not None:
        start, end = END + timedelta(minutes=window[0]), END + timedelta(minutes=window[0] + window[1])
        time = {"from": start.isoformat(), "to": end.isoformat()}
    expected = oracle_violations(*(await oracle_inputs(pool)), start, end)
    data = await gql(
        airspace,
        f"""query($time: TimeFilter, $r: [_Any!]!) {{
          zoneViolations(time: $time, first: 10000) {{ {VIOLATION_FIELDS} }}
          _entities(representations: $r) {{ ... on Track {{ violations(time: $time) {{ {VIOLATION_FIELDS} }} }} }}
        }}""",
        time=time,
        r=[{"__typename": "Track", "id": str(uuid.UUID(int=1000 + i))} for i in range(len(tracks))],
    )
    assert as_found(data["zoneViolations"]) == expected
    assert as_found([v for e in data["_entities"] for v in e["violations"]]) == expected
