"""Vision oracles: the field-of-view sector against pyproj's geodesic direct problem, and the linking
rule against a Python implementation (bisect for the surrounding observations, pyproj for distances),
on the seeded scenario and on random tracks and detections (hypothesis)."""

from __future__ import annotations

import bisect
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from module_helpers import migrate_module

from atlas4d.core.ingest import ObservationItem, ingest_observations
from atlas4d.modules.vision import module
from atlas4d.modules.vision.seed import link_detections, seed
from atlas4d.modules.vision.settings import VisionSettings

END = datetime(2026, 5, 2, tzinfo=UTC)
GEOD = pyproj.Geod(ellps="WGS84")
TOLERANCE_M = 1e-3


def few(n: int) -> Any:
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
async def empty(clean_db: asyncpg.Pool) -> asyncpg.Pool:
    await migrate_module(clean_db, module)
    await clean_db.execute("TRUNCATE atlas4d_vision.detections, atlas4d_vision.cameras")
    return clean_db


# --- field of view --------------------------------------------------------------------------------


def expected_sector(
    lon: float, lat: float, heading: float, fov: float, range_m: float
) -> list[tuple[float, float]]:
    n = max(4, math.ceil(fov / 5))
    arc = [GEOD.fwd(lon, lat, heading - fov / 2 + fov * i / n, range_m)[:2] for i in range(n + 1)]
    return [*arc[:n], arc[0]] if fov >= 360 else [(lon, lat), *arc, (lon, lat)]


async def sector(
    pool: asyncpg.Pool, lon: float, lat: float, heading: float, fov: float, range_m: float
) -> Any:
    wkb = await pool.fetchval(
        "SELECT ST_AsBinary(atlas4d_vision.fov_sector(ST_SetSRID(ST_MakePoint($1, $2), 4326), $3, $4, $5))",
        lon, lat, heading, fov, range_m,
    )  # fmt: skip
    return shapely.from_wkb(wkb)


def assert_same_ring(polygon: Any, expected: list[tuple[float, float]]) -> None:
    ring = list(polygon.exterior.coords)
    assert len(ring) == len(expected)
    for (x, y), (ex, ey) in zip(ring, expected, strict=True):
        assert GEOD.inv(x, y, ex, ey)[2] < 0.01  # a centimetre


async def test_seeded_camera_coverage_is_the_geodesic_sector(empty: asyncpg.Pool) -> None:
    async with empty.acquire() as conn:
        await seed(conn, 5, end=END)
    for r in await empty.fetch(
        "SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat, heading_deg, fov_deg, range_m, ST_AsBinary(coverage) AS wkb "
        "FROM atlas4d_vision.cameras"
    ):
        polygon = shapely.from_wkb(r["wkb"])
        assert polygon.is_valid
        assert_same_ring(
            polygon, expected_sector(r["lon"], r["lat"], r["heading_deg"], r["fov_deg"], r["range_m"])
        )


@few(25)
@given(
    lon=st.floats(-170, 170),
    lat=st.floats(-70, 70),
    heading=st.floats(0, 359.9),
    fov=st.one_of(st.floats(1, 359), st.just(360.0)),
    range_m=st.floats(5, 10_000),
    u=st.floats(0.02, 0.98),
    v=st.floats(0.02, 0.97),
)
async def test_fov_sector_matches_pyproj_and_contains_what_the_camera_sees(
    pool: asyncpg.Pool, lon: float, lat: float, heading: float, fov: float, range_m: float, u: float, v: float
) -> None:
    await migrate_module(pool, module)
    polygon = await sector(pool, lon, lat, heading, fov, range_m)
    assert polygon.is_valid
    assert_same_ring(polygon, expected_sector(lon, lat, heading, fov, range_m))
    seen = GEOD.fwd(lon, lat, heading - fov / 2 + fov * u, range_m * v)[:2]
    assert polygon.contains(shapely.Point(seen))
    beyond = GEOD.fwd(lon, lat, heading - fov / 2 + fov * u, range_m * 1.05)[:2]
    assert not polygon.contains(shapely.Point(beyond))


# --- linking --------------------------------------------------------------------------------------


async def expected_links(
    pool: asyncpg.Pool, radius: float, classes: list[str]
) -> dict[str, tuple[str | None, float | None]]:
    """Detection id -> (track id, distance), or None for a detection too close to call (a tie, or a
    distance at the radius within TOLERANCE_M)."""
    tracks = await pool.fetch("SELECT id, start_time, end_time FROM atlas4d.tracks")
    points: dict[uuid.UUID, list[tuple[datetime, int, float, float]]] = defaultdict(list)
    for o in await pool.fetch(
        "SELECT track_id, t, id, ST_X(geom) AS x, ST_Y(geom) AS y FROM atlas4d.observations_core "
        "WHERE track_id IS NOT NULL AND geom IS NOT NULL ORDER BY track_id, t, id"
    ):
        points[o["track_id"]].append((o["t"], o["id"], o["x"], o["y"]))
    times = {k: [p[0] for p in v] for k, v in points.items()}
    out: dict[str, Any] = {}
    for d in await pool.fetch(
        "SELECT id, t, class, ST_X(geom) AS x, ST_Y(geom) AS y FROM atlas4d_vision.detections"
    ):
        if d["class"] not in classes or d["x"] is None:
            out[str(d["id"])] = (None, None)
            continue
        t, candidates = d["t"], []
        for tr in tracks:
            if not tr["start_time"] <= t <= tr["end_time"]:
                continue
            seq, ts = points[tr["id"]], times[tr["id"]]
            p, n = seq[bisect.bisect_right(ts, t) - 1], seq[bisect.bisect_left(ts, t)]
            k = 0.0 if n[0] == p[0] else (t - p[0]) / (n[0] - p[0])
            x, y = p[2] + (n[2] - p[2]) * k, p[3] + (n[3] - p[3]) * k
            candidates.append((GEOD.inv(x, y, d["x"], d["y"])[2], str(tr["id"])))
        candidates.sort()
        close_call = candidates and (
            abs(candidates[0][0] - radius) < TOLERANCE_M
            or (len(candidates) > 1 and candidates[1][0] - candidates[0][0] < TOLERANCE_M)
        )
        if close_call:
            out[str(d["id"])] = None
        elif candidates and candidates[0][0] <= radius:
            out[str(d["id"])] = (candidates[0][1], candidates[0][0])
        else:
            out[str(d["id"])] = (None, None)
    return out


async def assert_links_match(pool: asyncpg.Pool, radius: float, classes: list[str]) -> int:
    expected = await expected_links(pool, radius, classes)
    checked = 0
    for r in await pool.fetch(
        "SELECT id, track_id, entity_id, link_distance_m FROM atlas4d_vision.detections"
    ):
        want = expected[str(r["id"])]
        if want is None:
            continue
        track, distance = want
        assert (str(r["track_id"]) if r["track_id"] else None) == track, (r, want)
        if track is not None:
            assert abs(r["link_distance_m"] - distance) < TOLERANCE_M
            owner = await pool.fetchval("SELECT entity_id FROM atlas4d.tracks WHERE id = $1", r["track_id"])
            assert r["entity_id"] == owner
        checked += 1
    return checked


async def test_seeded_links_follow_the_rule(empty: asyncpg.Pool) -> None:
    from atlas4d.demo import load_burgas

    async with empty.acquire() as conn:
        await load_burgas(conn, seed=42, end=END)
        await seed(conn, 5, end=END)
    s = VisionSettings()
    assert await assert_links_match(empty, s.link_radius_m, s.link_classes) > 100


offset = st.floats(-0.0008, 0.0008, allow_subnormal=False)  # about +-65 m of longitude, +-90 m of latitude
track_points = st.lists(st.tuples(st.integers(0, 600), offset, offset), min_size=1, max_size=6)


@few(20)
@given(
    tracks=st.lists(track_points, min_size=1, max_size=3),
    detections=st.lists(
        st.tuples(st.integers(-30, 630), offset, offset, st.sampled_from(["car", "truck", "person"])),
        min_size=1,
        max_size=8,
    ),
    radius=st.sampled_from([10.0, 25.0, 60.0]),
)
async def test_random_links_follow_the_rule(
    pool: asyncpg.Pool, tracks: list[Any], detections: list[Any], radius: float
) -> None:
    await migrate_module(pool, module)
    await pool.execute(
        "TRUNCATE atlas4d.observations_core, atlas4d.tracks, atlas4d.entities, "
        "atlas4d_vision.detections, atlas4d_vision.cameras"
    )
    lon0, lat0, t0 = 27.47, 42.50, END
    items = [
        ObservationItem(time=t0 + timedelta(seconds=s), lon=lon0 + dx, lat=lat0 + dy, entity_id=str(uuid.UUID(int=i + 1)),
                        entity_kind="vehicle", track_id=str(uuid.UUID(int=1000 + i)))
        for i, points in enumerate(tracks) for s, dx, dy in points
    ]  # fmt: skip
    await ingest_observations(pool, items, max_batch=100, copy_threshold=1000)
    camera = uuid.uuid4()
    await pool.execute(
        "INSERT INTO atlas4d_vision.cameras (entity_id, geom, heading_deg, fov_deg, range_m) "
        "VALUES ($1, ST_SetSRID(ST_MakePoint(27.47, 42.5), 4326), 0, 90, 200)",
        camera,
    )
    ids = [uuid.uuid4() for _ in detections]
    await pool.executemany(
        "INSERT INTO atlas4d_vision.detections (id, camera_id, t, class, confidence, box_x, box_y, box_w, box_h, geom) "
        "VALUES ($1, $2, $3, $4, 0.9, 0.1, 0.1, 0.1, 0.1, ST_SetSRID(ST_MakePoint($5, $6), 4326))",
        [
            (i, camera, t0 + timedelta(seconds=s), c, lon0 + dx, lat0 + dy)
            for i, (s, dx, dy, c) in zip(ids, detections, strict=True)
        ],
    )
    classes = ["car", "truck"]
    async with pool.acquire() as conn:
        linked = await link_detections(conn, ids, VisionSettings(link_radius_m=radius, link_classes=classes))
    await assert_links_match(pool, radius, classes)
    assert linked == await pool.fetchval(
        "SELECT count(*) FROM atlas4d_vision.detections WHERE track_id IS NOT NULL"
    )
