"""Aggregates, track geometry and pagination on random data, each checked against a Python oracle computed
from the stored rows: time buckets, square and H3 grids, GeoJSON, positionAt, simplify, cursor walks."""

from __future__ import annotations

import math
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import h3
import httpx
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from starlette.applications import Starlette
from starlette.routing import Route

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.settings import Settings
from atlas4d.web.graphql_http import GraphQLEndpoint

TABLES = "atlas4d.observations_core, atlas4d.entities, atlas4d.anomalies, atlas4d.tracks"
INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
BASE = datetime(2026, 3, 1, tzinfo=UTC)
WGS84 = Geod(ellps="WGS84")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTERVALS = {"PT1M": timedelta(minutes=1), "PT15M": timedelta(minutes=15), "PT1H": timedelta(hours=1),
             "PT6H": timedelta(hours=6), "P1D": timedelta(days=1)}  # fmt: skip
EXAMPLES = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# one random observation around Burgas: (seconds after BASE, lon, lat, speed or None, entity number)
observation_rows = st.tuples(
    st.integers(0, 3 * 86_400),
    st.floats(27.3, 27.6, allow_nan=False),
    st.floats(42.4, 42.6, allow_nan=False),
    st.one_of(st.none(), st.floats(0, 40, allow_nan=False)),
    st.integers(0, 4),
)


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    body: dict[str, Any] = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def load(
    pool: asyncpg.Pool, client: httpx.AsyncClient, rows: list[tuple[int, float, float, float | None, int]]
) -> list[asyncpg.Record]:
    """Ingest `rows` into empty tables; the stored rows (the oracles' input)."""
    await pool.execute(f"TRUNCATE {TABLES}")
    items = [
        {"time": (BASE + timedelta(seconds=s)).isoformat(), "lon": lon, "lat": lat, "speed": speed,
         "altitude": float(s % 500), "entityId": str(uuid.UUID(int=e + 1)), "sourceType": ["gps", "ais"][e % 2]}
        for s, lon, lat, speed, e in rows
    ]  # fmt: skip
    if items:
        await gql(client, INGEST, {"o": items})
    return list(
        await pool.fetch(
            "SELECT id, t, ST_X(geom) AS lon, ST_Y(geom) AS lat, speed_ms, altitude_m, entity_id, source_type "
            "FROM atlas4d.observations_core"
        )
    )


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@EXAMPLES
@given(rows=st.lists(observation_rows, max_size=60), interval=st.sampled_from(sorted(INTERVALS)))
async def test_buckets_match_oracle(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, rows: list[Any], interval: str
) -> None:
    stored = await load(clean_db, client, rows)
    step = INTERVALS[interval]
    groups: dict[datetime, list[asyncpg.Record]] = defaultdict(list)
    for r in stored:
        groups[EPOCH + step * ((r["t"] - EPOCH) // step)].append(r)
    query = "query($i: Duration!) { observationBuckets(interval: $i) { start end count avgSpeed entityCount "
    query += "minAltitude maxAltitude } }"
    got = (await gql(client, query, {"i": interval}))["observationBuckets"]
    assert [datetime.fromisoformat(b["start"]) for b in got] == sorted(groups)
    for b in got:
        start = datetime.fromisoformat(b["start"])
        members = groups[start]
        assert datetime.fromisoformat(b["end"]) == start + step
        assert b["count"] == len(members)
        assert b["entityCount"] == len({m["entity_id"] for m in members})
        expected = mean([m["speed_ms"] for m in members if m["speed_ms"] is not None])
        assert b["avgSpeed"] == (pytest.approx(expected) if expected is not None else None)
        assert b["minAltitude"] == min(m["altitude_m"] for m in members)
        assert b["maxAltitude"] == max(m["altitude_m"] for m in members)


async def test_buckets_respect_the_filter(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    stored = await load(clean_db, client, [(i * 600, 27.3 + i * 0.01, 42.5, 10.0, i % 5) for i in range(30)])
    query = 'query($f: ObservationFilter) { observationBuckets(interval: "PT1H", filter: $f) { count } }'
    got = await gql(
        client, query, {"f": {"bbox": {"minLon": 27.3, "minLat": 42.4, "maxLon": 27.455, "maxLat": 42.6}}}
    )
    assert (
        sum(b["count"] for b in got["observationBuckets"])
        == sum(1 for r in stored if r["lon"] <= 27.455)
        == 16
    )


@EXAMPLES
@given(rows=st.lists(observation_rows, max_size=60), size=st.sampled_from([0.01, 0.05, 0.1, 0.25, 1.0]))
async def test_square_grid_matches_oracle(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, rows: list[Any], size: float
) -> None:
    stored = await load(clean_db, client, rows)
    cells: dict[tuple[int, int], list[asyncpg.Record]] = defaultdict(list)
    for r in stored:
        cells[(math.floor(r["lon"] / size), math.floor(r["lat"] / size))].append(r)
    query = "query($s: Float) { observationGrid(cellSize: $s) { cell count avgSpeed center { lon lat } geometry } }"
    got = (await gql(client, query, {"s": size}))["observationGrid"]
    assert [c["count"] for c in got] == sorted((c["count"] for c in got), reverse=True)
    by_cell = {(int(c["cell"].split(":")[-2]), int(c["cell"].split(":")[-1])): c for c in got}
    assert len(by_cell) == len(got)
    assert {k: c["count"] for k, c in by_cell.items()} == {k: len(v) for k, v in cells.items()}
    for key, c in by_cell.items():
        expected = mean([m["speed_ms"] for m in cells[key] if m["speed_ms"] is not None])
        assert c["avgSpeed"] == (pytest.approx(expected) if expected is not None else None)
        polygon = shapely.geometry.shape(c["geometry"])
        assert polygon.is_valid and polygon.area == pytest.approx(size * size)
        assert polygon.contains(shapely.Point(c["center"]["lon"], c["center"]["lat"]))
        # a point on a cell edge may sit one ulp outside the computed polygon
        assert all(polygon.buffer(1e-9).intersects(shapely.Point(m["lon"], m["lat"])) for m in cells[key])


@EXAMPLES
@given(rows=st.lists(observation_rows, max_size=60), resolution=st.integers(0, 9))
async def test_h3_grid_matches_oracle(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, rows: list[Any], resolution: int
) -> None:
    stored = await load(clean_db, client, rows)
    oracle = Counter(h3.latlng_to_cell(r["lat"], r["lon"], resolution) for r in stored)
    query = "query($r: Int) { observationGrid(h3Resolution: $r) { cell count center { lon lat } geometry } }"
    got = (await gql(client, query, {"r": resolution}))["observationGrid"]
    assert {c["cell"]: c["count"] for c in got} == dict(oracle)
    assert len(got) == len(oracle)
    for c in got:
        lat, lon = h3.cell_to_latlng(c["cell"])
        assert (c["center"]["lat"], c["center"]["lon"]) == pytest.approx((lat, lon))
        ring = c["geometry"]["coordinates"][0]
        assert c["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) >= 6


@EXAMPLES
@given(rows=st.lists(observation_rows, max_size=40), limit=st.integers(0, 50))
async def test_geojson_is_the_newest_observations(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, rows: list[Any], limit: int
) -> None:
    stored = await load(clean_db, client, rows)
    query = "query($l: Int, $f: ObservationFilter) { observationsGeoJSON(limit: $l, filter: $f) }"
    fc = (await gql(client, query, {"l": limit, "f": {"sourceTypes": ["gps"]}}))["observationsGeoJSON"]
    newest = sorted(
        (r for r in stored if r["source_type"] == "gps"), key=lambda r: (r["t"], r["id"]), reverse=True
    )
    assert fc["type"] == "FeatureCollection" and isinstance(fc["features"], list)
    assert [f["id"] for f in fc["features"]] == [r["id"] for r in newest[:limit]]
    for feature, row in zip(fc["features"], newest, strict=False):
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        assert feature["geometry"]["coordinates"] == pytest.approx([row["lon"], row["lat"]], abs=1e-7)
        assert shapely.geometry.shape(feature["geometry"]).is_valid
        assert datetime.fromisoformat(feature["properties"]["time"]) == row["t"]
        assert feature["properties"]["sourceType"] == "gps"


async def test_geojson_default_limit(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    await load(clean_db, client, [(i, 27.4, 42.5, None, 0) for i in range(120)])
    fc = (await gql(client, "{ observationsGeoJSON }"))["observationsGeoJSON"]
    assert len(fc["features"]) == 100


def interpolate(points: list[tuple[datetime, float, float, float]], at: datetime) -> tuple[float, ...] | None:
    """positionAt's oracle: pyproj's geodesic (WGS 84) from the observation before to the one after, at the
    fraction of the time between them; altitude linearly."""
    if not points or at < points[0][0] or at > points[-1][0]:
        return None
    before = max((p for p in points if p[0] <= at), key=lambda p: p[0])
    after = min((p for p in points if p[0] >= at), key=lambda p: p[0])
    span = (after[0] - before[0]).total_seconds()
    k = 0.0 if span == 0 else (at - before[0]).total_seconds() / span
    azimuth, _, distance = WGS84.inv(before[1], before[2], after[1], after[2])
    lon, lat, _ = WGS84.fwd(before[1], before[2], azimuth, distance * k)
    return lon, lat, before[3] + (after[3] - before[3]) * k


@EXAMPLES
@given(
    offsets=st.lists(st.integers(0, 7200), min_size=1, max_size=10, unique=True),
    coords=st.lists(st.tuples(st.floats(27.3, 27.6), st.floats(42.4, 42.6), st.floats(0, 300)), min_size=10,
                    max_size=10),
    probes=st.lists(st.integers(-600, 7800), min_size=1, max_size=6),
)  # fmt: skip
async def test_position_at_matches_oracle(
    clean_db: asyncpg.Pool,
    client: httpx.AsyncClient,
    offsets: list[int],
    coords: list[Any],
    probes: list[int],
) -> None:
    await clean_db.execute(f"TRUNCATE {TABLES}")
    track = str(uuid.uuid4())
    points = sorted((BASE + timedelta(seconds=s), *coords[i]) for i, s in enumerate(offsets))
    items = [{"time": t.isoformat(), "lon": lon, "lat": lat, "altitude": alt, "trackId": track}
             for t, lon, lat, alt in reversed(points)]  # fmt: skip
    await gql(client, INGEST, {"o": items})
    times = [BASE + timedelta(seconds=p, milliseconds=250) for p in probes] + [p[0] for p in points]
    fields = " ".join(
        f'p{i}: positionAt(time: "{t.isoformat()}") {{ lon lat altitude }}' for i, t in enumerate(times)
    )
    got = (await gql(client, f'{{ track(id: "{track}") {{ {fields} }} }}'))["track"]
    for i, t in enumerate(times):
        expected = interpolate(points, t)
        if expected is None:
            assert got[f"p{i}"] is None, t
        else:
            position = got[f"p{i}"]
            assert (position["lon"], position["lat"], position["altitude"]) == pytest.approx(
                expected, abs=1e-9
            ), t


async def test_geometry_and_simplify(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    track = str(uuid.uuid4())
    # a nearly straight road with ±3 m of noise: simplifying at 50 m keeps far fewer vertices
    items = [{"time": (BASE + timedelta(seconds=10 * i)).isoformat(), "lon": 27.40 + 0.001 * i,
              "lat": 42.50 + (0.00003 if i % 2 else -0.00003), "trackId": track} for i in range(80)]  # fmt: skip
    await gql(client, INGEST, {"o": items})
    query = (
        "query($t: ID!) { track(id: $t) { pointCount full: geometry zero: geometry(simplify: 0) "
        "s5: geometry(simplify: 0.5) s50: geometry(simplify: 50) } }"
    )
    got = (await gql(client, query, {"t": track}))["track"]
    full, zero, s5, s50 = (got[k] for k in ("full", "zero", "s5", "s50"))
    assert full["type"] == s50["type"] == s5["type"] == "LineString"
    assert full["coordinates"] == [pytest.approx([o["lon"], o["lat"]], abs=1e-7) for o in items]
    assert zero == full and len(full["coordinates"]) == got["pointCount"] == 80
    assert len(s50["coordinates"]) < len(s5["coordinates"]) <= len(full["coordinates"])
    assert 2 <= len(s50["coordinates"]) <= 4
    assert (
        s50["coordinates"][0] == full["coordinates"][0] and s50["coordinates"][-1] == full["coordinates"][-1]
    )
    assert all(shapely.geometry.shape(g).is_valid for g in (full, s5, s50))


async def test_single_point_track_geometry_is_valid_geojson(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient
) -> None:
    """RFC 7946 §3.1.4: a LineString has two or more positions; one observation is a Point (or no line)."""
    track = str(uuid.uuid4())
    await gql(client, INGEST, {"o": [{"time": BASE.isoformat(), "lon": 27.5, "lat": 42.5, "trackId": track}]})
    geometry = (await gql(client, f'{{ track(id: "{track}") {{ geometry }} }}'))["track"]["geometry"]
    assert geometry is None or geometry["type"] == "Point" or len(geometry["coordinates"]) >= 2, geometry


@pytest.mark.parametrize("order", ["TIME_ASC", "TIME_DESC"])
@EXAMPLES
@given(
    rows=st.lists(st.tuples(st.integers(0, 40), st.sampled_from([0, 1])), max_size=70),
    page=st.integers(1, 9),
)
async def test_cursor_walk_visits_every_match_once_in_order(
    clean_db: asyncpg.Pool, client: httpx.AsyncClient, order: str, rows: list[tuple[int, int]], page: int
) -> None:
    # few distinct times, so many observations tie on `t` and the id breaks the tie
    stored = await load(clean_db, client, [(s, 27.4, 42.5, None, e) for s, e in rows])
    matching = [r for r in stored if r["source_type"] == "gps"]
    expected = sorted(matching, key=lambda r: (r["t"], r["id"]), reverse=order == "TIME_DESC")
    query = (
        "query($n: Int, $a: String, $o: TimeOrder!) { observations(first: $n, after: $a, orderBy: $o, "
        'filter: {sourceTypes: ["gps"]}) { totalCount nodes { id } edges { cursor } pageInfo { hasNextPage endCursor } } }'
    )
    visited: list[str] = []
    after = None
    for _ in range(len(expected) + 2):
        got = (await gql(client, query, {"n": page, "a": after, "o": order}))["observations"]
        assert got["totalCount"] == len(matching)
        visited += [n["id"] for n in got["nodes"]]
        assert len(got["nodes"]) <= page
        if got["nodes"]:
            assert got["pageInfo"]["endCursor"] == got["edges"][-1]["cursor"]
        if not got["pageInfo"]["hasNextPage"]:
            break
        after = got["pageInfo"]["endCursor"]
    assert visited == [str(r["id"]) for r in expected]
    assert len(set(visited)) == len(visited) == len(matching)


@EXAMPLES
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=50
    ),
    first=st.integers(0, 6),
    descending=st.booleans(),
    window=st.tuples(st.integers(0, 30), st.integers(1, 20)),
)
async def test_nested_lists_are_per_parent(
    clean_db: asyncpg.Pool,
    client: httpx.AsyncClient,
    rows: list[tuple[int, int, int]],
    first: int,
    descending: bool,
    window: tuple[int, int],
) -> None:
    """`first`, `orderBy` and `time` of Entity.observations / Track.observations apply to each parent."""
    await clean_db.execute(f"TRUNCATE {TABLES}")
    items = [{"time": (BASE + timedelta(minutes=m)).isoformat(), "lon": 27.4 + m / 1000, "lat": 42.5,
              "entityId": str(uuid.UUID(int=e + 1)), "trackId": str(uuid.UUID(int=100 + e * 10 + k))}
             for m, e, k in rows]  # fmt: skip
    await gql(client, INGEST, {"o": items})
    stored = await clean_db.fetch("SELECT id, t, entity_id, track_id FROM atlas4d.observations_core")
    lo, hi = BASE + timedelta(minutes=window[0]), BASE + timedelta(minutes=window[0] + window[1])
    order = "TIME_DESC" if descending else "TIME_ASC"
    args = f'time: {{from: "{lo.isoformat()}", to: "{hi.isoformat()}"}}, first: {first}, orderBy: {order}'
    query = (
        f"{{ entities(first: 10) {{ nodes {{ id observations({args}) {{ id }} }} }} "
        f"tracks(first: 50) {{ nodes {{ id observations({args}) {{ id }} }} }} }}"
    )
    data = await gql(client, query)

    def expected(column: str, key: str) -> list[str]:
        mine = [r for r in stored if str(r[column]) == key and lo <= r["t"] < hi]
        mine.sort(key=lambda r: (r["t"], r["id"]), reverse=descending)
        return [str(r["id"]) for r in mine[:first]]

    assert {n["id"] for n in data["entities"]["nodes"]} == {str(r["entity_id"]) for r in stored}
    for node in data["entities"]["nodes"]:
        assert [o["id"] for o in node["observations"]] == expected("entity_id", node["id"])
    assert {n["id"] for n in data["tracks"]["nodes"]} == {str(r["track_id"]) for r in stored}
    for node in data["tracks"]["nodes"]:
        assert [o["id"] for o in node["observations"]] == expected("track_id", node["id"])


@pytest.mark.parametrize("root", ["entities", "tracks", "anomalies"])
async def test_keyset_walk_over_ids(clean_db: asyncpg.Pool, client: httpx.AsyncClient, root: str) -> None:
    items = [{"time": (BASE + timedelta(minutes=i)).isoformat(), "lon": 27.4, "lat": 42.5,
              "entityId": str(uuid.uuid4()), "entityKind": ["vehicle", "olt"][i % 2], "trackId": str(uuid.uuid4())}
             for i in range(23)]  # fmt: skip
    await gql(client, INGEST, {"o": items})
    await clean_db.execute(
        "INSERT INTO atlas4d.anomalies (observation_id, anomaly_type, severity, score) "
        "SELECT id, 'x', 1 + id % 5, 0.5 FROM atlas4d.observations_core"
    )
    flt = {
        "entities": '{kinds: ["vehicle"]}',
        "tracks": '{kinds: ["vehicle"]}',
        "anomalies": "{minSeverity: 3}",
    }[root]
    table = {"entities": "atlas4d.entities WHERE kind = 'vehicle'",
             "tracks": "atlas4d.tracks WHERE entity_id IN (SELECT id FROM atlas4d.entities WHERE kind = 'vehicle')",
             "anomalies": "atlas4d.anomalies WHERE severity >= 3"}[root]  # fmt: skip
    expected = [str(r["id"]) for r in await clean_db.fetch(f"SELECT id FROM {table} ORDER BY id")]
    assert expected
    visited: list[str] = []
    after = None
    while True:
        a = f', after: "{after}"' if after else ""
        page = (await gql(client, f"{{ {root}(filter: {flt}, first: 4{a}) {{ totalCount nodes {{ id }} "
                                  "pageInfo { hasNextPage endCursor } } }"))[root]  # fmt: skip
        assert page["totalCount"] == len(expected)
        visited += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert visited == expected


async def test_aggregates_over_the_page_limit_are_errors(clean_db: asyncpg.Pool) -> None:
    """More buckets or cells than `max_page_size` is PAGE_TOO_LARGE, never a silently cut answer."""
    small = Settings(database_url=None, max_page_size=3)

    async def context(request: Any, request_id: str) -> Context:
        return Context.create(clean_db, small, request_id)

    endpoint = GraphQLEndpoint(build_core_schema()._schema, small, context)
    app = Starlette(routes=[Route("/graphql", endpoint.handle, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://small") as c:
        items = [{"time": (BASE + timedelta(hours=i)).isoformat(), "lon": 27.3 + i * 0.05, "lat": 42.4 + i * 0.05}
                 for i in range(4)]  # fmt: skip
        await gql(c, INGEST, {"o": items})
        for query in ('{ observationBuckets(interval: "PT1H") { count } }',
                      "{ observationGrid(cellSize: 0.01) { count } }", "{ observationGrid(h3Resolution: 9) { count } }"):  # fmt: skip
            body = (await c.post("/graphql", json={"query": query})).json()
            assert body["errors"][0]["extensions"]["code"] == "PAGE_TOO_LARGE", body
        assert (
            len((await gql(c, '{ observationBuckets(interval: "PT2H") { count } }'))["observationBuckets"])
            == 2
        )
        assert (
            len((await gql(c, "{ observations(first: 3) { nodes { id } } }"))["observations"]["nodes"]) == 3
        )
