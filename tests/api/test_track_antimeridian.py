"""Tracks crossing the antimeridian (migration 0011): stored cut at ±180° (RFC 7946 MultiLineString), measured
and interpolated on the geodesic the short way (oracle: pyproj's Geod), filtered as the line really runs
(oracle: shapely on the unwrapped line, against the box or polygon shifted by -360, 0 and +360 degrees)."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import LineString, Polygon, box, mapping

from api.test_aggregates_and_tracks import BASE, INGEST, WGS84, gql, interpolate

TRACK_QUERY = (
    "query($id: ID!, $mid: DateTime!) { track(id: $id) { lengthMeters geometry "
    "positionAt(time: $mid) { lon lat } } }"
)
MATCHING = "query($f: TrackFilter) { tracks(filter: $f, first: 1000) { nodes { id } } }"


async def ingest(client: httpx.AsyncClient, track: str, points: list[tuple[int, float, float]]) -> None:
    items = [
        {"time": (BASE + timedelta(seconds=s)).isoformat(), "lon": lon, "lat": lat, "trackId": track}
        for s, lon, lat in points
    ]
    await gql(client, INGEST, {"o": items})


async def matching(client: httpx.AsyncClient, flt: dict[str, Any]) -> set[str]:
    return {n["id"] for n in (await gql(client, MATCHING, {"f": flt}))["tracks"]["nodes"]}


def unwrapped(lonlats: list[tuple[float, float]]) -> LineString:
    """The line with continuous longitudes: each step the short way (|Δlon| <= 180), whatever the sum."""
    coords = [lonlats[0]]
    for lon, lat in lonlats[1:]:
        step = (lon - lonlats[len(coords) - 1][0] + 180) % 360 - 180
        coords.append((coords[-1][0] + step, lat))
    return LineString(coords)


def oracle_intersects(lonlats: list[tuple[float, float]], area: Polygon) -> bool:
    line = unwrapped(lonlats)
    return any(line.intersects(affinity.translate(area, xoff=k * 360)) for k in range(-3, 4))


async def test_the_crossing_from_the_issue(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    track = str(uuid.uuid4())
    await ingest(client, track, [(0, 179.0, 0.0), (3600, -179.0, 0.0)])
    mid = (BASE + timedelta(seconds=1800)).isoformat()
    got = (await gql(client, TRACK_QUERY, {"id": track, "mid": mid}))["track"]
    assert got["lengthMeters"] == pytest.approx(WGS84.inv(179, 0, -179, 0)[2], rel=1e-9)  # 222,639 m
    assert abs(got["positionAt"]["lon"]) == pytest.approx(180, abs=1e-9)
    assert got["positionAt"]["lat"] == pytest.approx(0, abs=1e-9)
    assert got["geometry"] == {
        "type": "MultiLineString",
        "coordinates": [[[179, 0], [180, 0]], [[-180, 0], [-179, 0]]],
    }
    assert (
        await matching(client, {"bbox": {"minLon": -10, "minLat": -10, "maxLon": 10, "maxLat": 10}}) == set()
    )
    lon0 = mapping(box(-90, -1, 90, 1))
    assert await matching(client, {"within": lon0}) == set()
    assert await matching(client, {"bbox": {"minLon": 179.5, "minLat": -1, "maxLon": 180, "maxLat": 1}}) == {
        track
    }
    assert await matching(
        client, {"bbox": {"minLon": -180, "minLat": -1, "maxLon": -179.5, "maxLat": 1}}
    ) == {track}
    # a bbox across the antimeridian (minLon > maxLon) still finds it
    assert await matching(
        client, {"bbox": {"minLon": 179.9, "minLat": -1, "maxLon": -179.9, "maxLat": 1}}
    ) == {track}


async def test_appending_across_the_antimeridian_equals_a_rebuild(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    track = str(uuid.uuid4())
    zigzag = [(i * 60, 179.5 if i % 2 == 0 else -179.5, 10 + i) for i in range(7)]
    for point in zigzag:  # one batch a point: every crossing made by an append
        await ingest(client, track, [point])
    row = "SELECT ST_AsEWKB(geom) AS g, GeometryType(geom) AS kind, ST_NumGeometries(geom) AS n FROM atlas4d.tracks"
    appended = await clean_db.fetchrow(row)
    async with clean_db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT atlas4d.refresh_tracks(array_agg(id)) FROM atlas4d.tracks")
        rebuilt = await conn.fetchrow(row)
    assert appended == rebuilt
    assert (appended["kind"], appended["n"]) == ("MULTILINESTRING", 7)


# a random track that crosses: longitudes within 10° of the antimeridian, on either side (a point exactly on
# ±180 that starts or ends a crossing gives a zero-length piece, valid GeoJSON but not valid for GEOS)
near_180 = st.floats(170, 180, exclude_max=True) | st.floats(-180, -170, exclude_min=True)
tracks = st.lists(st.tuples(near_180, st.floats(-80, 80)), min_size=2, max_size=8).filter(
    lambda pts: any(abs(b[0] - a[0]) > 180 for a, b in itertools.pairwise(pts))
)
boxes = st.tuples(st.floats(-180, 179), st.floats(-85, 84), st.floats(0.01, 40), st.floats(0.01, 40)).map(
    lambda b: (b[0], b[1], min(180.0, b[0] + b[2]), min(85.0, b[1] + b[3]))
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tracks=st.lists(tracks, min_size=1, max_size=4), areas=st.lists(boxes, min_size=4, max_size=8),
       fractions=st.lists(st.floats(0, 1), min_size=1, max_size=4))  # fmt: skip
async def test_random_crossing_tracks_against_pyproj_and_shapely(
    clean_db: asyncpg.Pool,
    client: httpx.AsyncClient,
    tracks: list[list[tuple[float, float]]],
    areas: list[tuple[float, float, float, float]],
    fractions: list[float],
) -> None:
    await clean_db.execute("TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks")
    ids = [str(uuid.uuid4()) for _ in tracks]
    for track, lonlats in zip(ids, tracks, strict=True):
        await ingest(client, track, [(60 * i, lon, lat) for i, (lon, lat) in enumerate(lonlats)])
    for track, lonlats in zip(ids, tracks, strict=True):
        span = 60 * (len(lonlats) - 1)
        probes = [BASE + timedelta(seconds=round(span * f, 3)) for f in fractions]
        fields = " ".join(
            f'p{i}: positionAt(time: "{t.isoformat()}") {{ lon lat }}' for i, t in enumerate(probes)
        )
        got = (await gql(client, f'{{ track(id: "{track}") {{ lengthMeters geometry {fields} }} }}'))["track"]
        steps = itertools.pairwise(lonlats)
        assert got["lengthMeters"] == pytest.approx(
            sum(WGS84.inv(a[0], a[1], b[0], b[1])[2] for a, b in steps), rel=1e-9, abs=1e-6
        )
        timed = [(BASE + timedelta(seconds=60 * i), lon, lat, 0.0) for i, (lon, lat) in enumerate(lonlats)]
        for i, t in enumerate(probes):
            want = interpolate(timed, t)
            assert want is not None
            position = got[f"p{i}"]
            assert -180 <= position["lon"] <= 180
            assert ((position["lon"] - want[0] + 180) % 360 - 180) == pytest.approx(0, abs=1e-8), t
            assert position["lat"] == pytest.approx(want[1], abs=1e-8), t
        # pieces within ±180 (a piece shorter than the output's 7 decimals may print as zero-length)
        geometry = shapely.geometry.shape(got["geometry"])
        assert geometry.geom_type == "MultiLineString"
        assert all(len(part.coords) >= 2 for part in geometry.geoms)
        assert all(-180 <= x <= 180 for part in geometry.geoms for x, _ in part.coords)
    for minx, miny, maxx, maxy in areas:
        area = box(minx, miny, maxx, maxy)
        want = {t for t, lonlats in zip(ids, tracks, strict=True) if oracle_intersects(lonlats, area)}
        bbox = {"minLon": minx, "minLat": miny, "maxLon": maxx, "maxLat": maxy}
        assert await matching(client, {"bbox": bbox}) == want, (minx, miny, maxx, maxy)
        assert await matching(client, {"within": mapping(area)}) == want, (minx, miny, maxx, maxy)
