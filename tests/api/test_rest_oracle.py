"""GET /api/observations and /api/geojson/observations against an independent oracle: pyproj's geodesic
distance for `lat`/`lon`/`radius_km`, plain Python for `hours` and `source_type` (hypothesis)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
SOURCES = ("vehicle", "vessel", "sensor")
N_POINTS = 400


@dataclass(frozen=True)
class Point:
    id: int
    lon: float
    lat: float
    t: datetime
    source_type: str


@pytest.fixture(scope="module")
async def points(pool: Any) -> AsyncIterator[list[Point]]:
    rng = random.Random(11)
    now = datetime.now(UTC)
    rows = [
        (now - timedelta(seconds=rng.uniform(0, 72 * 3600)), rng.uniform(27.3, 27.7), rng.uniform(42.35, 42.65),
         SOURCES[i % 3])
        for i in range(N_POINTS)
    ]  # fmt: skip
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE atlas4d.observations_core, atlas4d.anomalies RESTART IDENTITY")
        ids = [
            await conn.fetchval(
                "INSERT INTO atlas4d.observations_core (t, geom, lon, lat, source_type) "
                "VALUES ($1, ST_SetSRID(ST_MakePoint($2, $3), 4326), $2, $3, $4) RETURNING id",
                *row,
            )
            for row in rows
        ]
    yield [Point(i, lon, lat, t, s) for i, (t, lon, lat, s) in zip(ids, rows, strict=True)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lon=st.floats(27.35, 27.65),
    lat=st.floats(42.4, 42.6),
    radius_km=st.floats(0.5, 30),
    hours=st.floats(0.5, 80),
    sources=st.none() | st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True),
    geojson=st.booleans(),
)
async def test_rest_filters_match_the_oracle(
    client: httpx.AsyncClient,
    points: list[Point],
    lon: float,
    lat: float,
    radius_km: float,
    hours: float,
    sources: list[str] | None,
    geojson: bool,
) -> None:
    params: dict[str, Any] = {"lat": lat, "lon": lon, "radius_km": radius_km, "hours": hours, "limit": 10_000}
    if sources is not None:
        params["source_type"] = sources
    asked = datetime.now(UTC)
    if geojson:
        response = await client.get("/api/geojson/observations", params=params)
        got = {f["properties"]["id"] for f in response.json()["features"]}
    else:
        response = await client.get("/api/observations", params=params)
        got = {r["id"] for r in response.json()}
    assert response.status_code == 200, response.text
    answered = datetime.now(UTC)
    _, _, dist = GEOD.inv(
        [lon] * len(points), [lat] * len(points), [p.lon for p in points], [p.lat for p in points]
    )
    expected, unsure = set(), set()
    for p, d in zip(points, dist, strict=True):
        if sources is not None and p.source_type not in sources:
            continue
        # the server's "now" lies between asked and answered; points that close to an edge may go either way
        near_edge = abs(d - radius_km * 1000) < 0.5
        in_window_early = p.t >= answered - timedelta(hours=hours)
        in_window_late = p.t >= asked - timedelta(hours=hours)
        if near_edge or in_window_early != in_window_late:
            unsure.add(p.id)
        elif d <= radius_km * 1000 and in_window_early:
            expected.add(p.id)
    assert got - unsure == expected
