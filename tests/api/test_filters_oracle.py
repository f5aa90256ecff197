"""Spatial and temporal filters against an independent oracle: shapely for areas, pyproj's geodesics
for distances, plain Python for time and altitude. Random data, random filters (hypothesis)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from atlas4d.core.ingest import ObservationItem, ingest_observations

GEOD = Geod(ellps="WGS84")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
N_POINTS = 600
SOURCE_TYPES = ["vehicle", "sensor", "aircraft"]
KINDS = ["car", "bus", "drone"]


@dataclass(frozen=True)
class Point:
    id: int
    lon: float
    lat: float
    alt: float | None
    t: datetime
    source_type: str
    entity_id: uuid.UUID
    kind: str


@pytest.fixture(scope="module")
async def points(pool: Any) -> AsyncIterator[list[Point]]:
    rng = random.Random(7)
    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks, atlas4d.anomalies RESTART IDENTITY"
        )
    entities = [(uuid.uuid4(), KINDS[i % 3]) for i in range(12)]
    items = []
    for i in range(N_POINTS):
        if i % 10 == 0:  # a few near the antimeridian and the poles
            lon, lat = rng.choice([rng.uniform(178, 180), rng.uniform(-180, -178)]), rng.uniform(-85, 85)
        else:
            lon, lat = rng.uniform(27.0, 28.0), rng.uniform(42.0, 43.0)
        ent, kind = entities[i % len(entities)]
        items.append(
            ObservationItem(
                time=T0 + timedelta(seconds=rng.randrange(0, 86_400)),
                lon=lon,
                lat=lat,
                altitude=None if i % 7 == 0 else rng.uniform(0, 3000),
                source_type=SOURCE_TYPES[i % 3],
                entity_id=str(ent),
                entity_kind=kind,
            )
        )
    await ingest_observations(pool, items, max_batch=10_000, copy_threshold=200)
    rows = await pool.fetch(
        "SELECT o.id, ST_X(o.geom) lon, ST_Y(o.geom) lat, o.altitude_m, o.t, o.source_type, o.entity_id, e.kind "
        "FROM atlas4d.observations_core o JOIN atlas4d.entities e ON e.id = o.entity_id"
    )
    assert len(rows) == N_POINTS
    yield [
        Point(
            r["id"], r["lon"], r["lat"], r["altitude_m"], r["t"], r["source_type"], r["entity_id"], r["kind"]
        )
        for r in rows
    ]


QUERY = """query($f: ObservationFilter) {
  observations(filter: $f, first: 10000) { nodes { id } }
}"""


async def matching_ids(client: httpx.AsyncClient, flt: dict[str, Any]) -> set[int]:
    r = await client.post("/graphql", json={"query": QUERY, "variables": {"f": flt}})
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    return {int(n["id"]) for n in body["data"]["observations"]["nodes"]}


lon = st.floats(-180, 180, allow_nan=False)
lat = st.floats(-90, 90, allow_nan=False)
burgas_lon = st.floats(26.9, 28.1)
burgas_lat = st.floats(41.9, 43.1)


@st.composite
def bboxes(draw: st.DrawFn) -> dict[str, float]:
    if draw(st.booleans()):
        x0, x1 = sorted([draw(burgas_lon), draw(burgas_lon)])
        y0, y1 = sorted([draw(burgas_lat), draw(burgas_lat)])
    else:  # anywhere, possibly crossing the antimeridian (minLon > maxLon)
        x0, x1 = draw(lon), draw(lon)
        y0, y1 = sorted([draw(lat), draw(lat)])
    return {"minLon": x0, "minLat": y0, "maxLon": x1, "maxLat": y1}


def in_bbox(p: Point, b: dict[str, float]) -> bool:
    in_lat = b["minLat"] <= p.lat <= b["maxLat"]
    if b["minLon"] <= b["maxLon"]:
        return in_lat and b["minLon"] <= p.lon <= b["maxLon"]
    return in_lat and (p.lon >= b["minLon"] or p.lon <= b["maxLon"])


@st.composite
def polygons(draw: st.DrawFn) -> shapely.Geometry:
    def hull() -> shapely.Geometry:
        pts = [(draw(burgas_lon), draw(burgas_lat)) for _ in range(draw(st.integers(3, 8)))]
        return shapely.MultiPoint(pts).convex_hull

    shape = hull()
    if draw(st.booleans()):
        shape = shapely.union(shape, hull())
    if shape.geom_type not in ("Polygon", "MultiPolygon") or shape.area < 1e-6:
        shape = shapely.box(27.2, 42.2, 27.7, 42.8)
    return shape


def settings_for(n: int) -> Any:
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)


@settings_for(40)
@given(bbox=bboxes())
async def test_bbox(client: httpx.AsyncClient, points: list[Point], bbox: dict[str, float]) -> None:
    expected = {p.id for p in points if in_bbox(p, bbox)}
    assert await matching_ids(client, {"bbox": bbox}) == expected


@settings_for(30)
@given(area=polygons())
async def test_within_polygon(client: httpx.AsyncClient, points: list[Point], area: shapely.Geometry) -> None:
    boundary = area.boundary
    inside = {p.id for p in points if area.contains(shapely.Point(p.lon, p.lat))}
    # points within a micro-degree of the boundary may go either way between two floating-point codes
    unsure = {p.id for p in points if boundary.distance(shapely.Point(p.lon, p.lat)) < 1e-9}
    got = await matching_ids(client, {"within": shapely.geometry.mapping(area)})
    assert inside - unsure <= got
    assert got - inside <= unsure


@settings_for(30)
@given(clon=burgas_lon, clat=burgas_lat, radius=st.floats(10, 80_000))
async def test_near_is_geodesic(
    client: httpx.AsyncClient, points: list[Point], clon: float, clat: float, radius: float
) -> None:
    dist = {p.id: GEOD.inv(clon, clat, p.lon, p.lat)[2] for p in points}
    got = await matching_ids(client, {"near": {"lon": clon, "lat": clat, "radiusMeters": radius}})
    assert {i for i, d in dist.items() if d <= radius - 0.01} <= got
    assert all(dist[i] <= radius + 0.01 for i in got)


@settings_for(30)
@given(lo=st.one_of(st.none(), st.floats(-10, 3000)), hi=st.one_of(st.none(), st.floats(-10, 3000)))
async def test_altitude(
    client: httpx.AsyncClient, points: list[Point], lo: float | None, hi: float | None
) -> None:
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    expected = {
        p.id
        for p in points
        if (lo is None and hi is None)
        or (p.alt is not None and (lo is None or p.alt >= lo) and (hi is None or p.alt <= hi))
    }
    assert await matching_ids(client, {"altitude": {"min": lo, "max": hi}}) == expected


@settings_for(40)
@given(data=st.data())
async def test_time_is_half_open(client: httpx.AsyncClient, points: list[Point], data: st.DataObject) -> None:
    # bounds drawn from the data's own timestamps, so the half-open edges are exercised every time
    times = sorted({p.t for p in points})
    start = data.draw(st.one_of(st.none(), st.sampled_from(times)))
    end = data.draw(st.one_of(st.none(), st.sampled_from(times)))
    if start is not None and end is not None:
        if start == end:
            end = None
        elif start > end:
            start, end = end, start
    expected = {p.id for p in points if (start is None or p.t >= start) and (end is None or p.t < end)}
    window = {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None}
    assert await matching_ids(client, {"time": window}) == expected


@settings_for(40)
@given(
    bbox=st.one_of(st.none(), bboxes()),
    area=st.one_of(st.none(), polygons()),
    alt_max=st.one_of(st.none(), st.floats(0, 3000)),
    sources=st.one_of(st.none(), st.lists(st.sampled_from(SOURCE_TYPES), min_size=1, unique=True)),
    kinds=st.one_of(st.none(), st.lists(st.sampled_from(KINDS), min_size=1, unique=True)),
    hours=st.one_of(st.none(), st.integers(0, 23)),
)
async def test_combinations(
    client: httpx.AsyncClient,
    points: list[Point],
    bbox: dict[str, float] | None,
    area: shapely.Geometry | None,
    alt_max: float | None,
    sources: list[str] | None,
    kinds: list[str] | None,
    hours: int | None,
) -> None:
    flt: dict[str, Any] = {}
    keep = list(points)
    if bbox is not None:
        flt["bbox"] = bbox
        keep = [p for p in keep if in_bbox(p, bbox)]
    unsure: set[int] = set()
    if area is not None:
        flt["within"] = shapely.geometry.mapping(area)
        unsure = {p.id for p in keep if area.boundary.distance(shapely.Point(p.lon, p.lat)) < 1e-9}
        keep = [p for p in keep if area.contains(shapely.Point(p.lon, p.lat))]
    if alt_max is not None:
        flt["altitude"] = {"max": alt_max}
        keep = [p for p in keep if p.alt is not None and p.alt <= alt_max]
    if sources is not None:
        flt["sourceTypes"] = sources
        keep = [p for p in keep if p.source_type in sources]
    if kinds is not None:
        flt["kinds"] = kinds
        keep = [p for p in keep if p.kind in kinds]
    if hours is not None:
        start, end = T0 + timedelta(hours=hours), T0 + timedelta(hours=hours + 3)
        flt["time"] = {"from": start.isoformat(), "to": end.isoformat()}
        keep = [p for p in keep if start <= p.t < end]
    got = await matching_ids(client, flt)
    expected = {p.id for p in keep}
    assert expected - unsure <= got and got - expected <= unsure


async def test_entity_and_source_id_filters(client: httpx.AsyncClient, points: list[Point]) -> None:
    with_vehicles = sorted({p.entity_id for p in points if p.source_type == "vehicle"}, key=str)
    without = sorted({p.entity_id for p in points} - set(with_vehicles), key=str)
    chosen = [*with_vehicles[:2], *without[:1]]
    got = await matching_ids(client, {"entityIds": [str(e) for e in chosen], "sourceTypes": ["vehicle"]})
    assert got == {p.id for p in points if p.entity_id in chosen and p.source_type == "vehicle"}
    assert got  # the data set has such points, so an empty answer is a failure too
