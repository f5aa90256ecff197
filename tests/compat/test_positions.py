"""One position rule on every face, on the original's kind of rows: `geom`, else `lon`/`lat`, else none.

The oracle is `Obs.position` (seed_like.py), computed in Python from what was inserted; every face must give
exactly it: GraphQL (compiled page and resolvers), REST, both GeoJSON documents, anomalies' positions, and the
spatial filters (bbox, near, within) in GraphQL and REST, checked against shapely/pyproj.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
import shapely
from compat_db import OriginalDatabase
from pyproj import Geod

from atlas4d.core.position import point_sql

GEOD = Geod(ellps="WGS84")
ALL = 10_000


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"][:3]
    assert response.status_code == 200
    data: dict[str, Any] = body["data"]
    return data


def expected(db: OriginalDatabase) -> dict[str, tuple[float, float] | None]:
    return {str(o.id): o.position for o in db.data.observations}


COMPILED = f"{{ observations(first: {ALL}) {{ nodes {{ id lon lat geometry }} }} }}"
RESOLVED = f"{{ observations(first: {ALL}) {{ totalCount nodes {{ id lon lat geometry position {{ lon lat }} }} }} }}"


async def test_graphql_compiled_and_resolved_pages_use_the_rule(
    compat: httpx.AsyncClient, original_db: OriginalDatabase
) -> None:
    want = expected(original_db)
    compiled = (await gql(compat, COMPILED))["observations"]["nodes"]
    resolved = (await gql(compat, RESOLVED))["observations"]
    assert resolved["totalCount"] == len(want)
    for nodes in (compiled, resolved["nodes"]):
        assert len(nodes) == len(want)
        for n in nodes:
            position = want[n["id"]]
            if position is None:
                assert (n["lon"], n["lat"], n["geometry"]) == (None, None, None), n
                assert n.get("position") is None
                continue
            assert (n["lon"], n["lat"]) == position, n
            assert n["geometry"] == {"type": "Point", "coordinates": list(position)}
            if "position" in n:
                assert (n["position"]["lon"], n["position"]["lat"]) == position
    # no row of the original lost its position: 500 lat/lon-only rows are located, only 4 edge rows are not
    assert sum(p is None for p in want.values()) == 4


async def test_rest_and_geojson_use_the_rule(
    compat: httpx.AsyncClient, original_db: OriginalDatabase
) -> None:
    want = expected(original_db)
    rows = (await compat.get("/api/observations", params={"limit": ALL})).json()
    assert len(rows) == len(want)
    for r in rows:
        position = want[str(r["id"])]
        assert (r["lon"], r["lat"]) == (position if position else (None, None)), r
    features = (await compat.get("/api/geojson/observations", params={"limit": ALL})).json()["features"]
    graphql = (await gql(compat, f"{{ observationsGeoJSON(limit: {ALL}) }}"))["observationsGeoJSON"][
        "features"
    ]
    for feature_list, key, digits in ((features, "properties", 1e-9), (graphql, None, 1e-7)):
        assert len(feature_list) == len(want)
        for f in feature_list:
            ident = str(f["properties"]["id"] if key else f["id"])
            position = want[ident]
            if position is None:
                assert f["geometry"] is None
            else:
                assert f["geometry"]["coordinates"] == pytest.approx(list(position), abs=digits)


async def test_inconsistent_rows_are_placed_by_geom_everywhere(
    compat: httpx.AsyncClient, original_db: OriginalDatabase
) -> None:
    """The 25 telecom-like rows whose geom and lat/lon are kilometres apart: every face says geom."""
    rows = original_db.data.inconsistent()
    assert len(rows) == 25
    apart = [
        GEOD.inv(o.lon, o.lat, *o.geom)[2] for o in rows if o.geom and o.lon is not None and o.lat is not None
    ]
    assert min(apart) > 100  # they really disagree
    rest = {r["id"]: r for r in (await compat.get("/api/observations", params={"limit": ALL})).json()}
    for o in rows:
        assert (rest[o.id]["lon"], rest[o.id]["lat"]) == o.geom


async def test_anomaly_positions_and_links(compat: httpx.AsyncClient, original_db: OriginalDatabase) -> None:
    by_id = original_db.data.by_id()
    listed = (await compat.get("/api/anomalies", params={"limit": ALL, "hours": 48})).json()
    seen = 0
    for a in listed:
        o = by_id.get(a["observation_id"]) if a["observation_id"] is not None else None
        position = o.position if o else None
        assert (a["lon"], a["lat"]) == (position if position else (None, None)), a
        seen += 1
    assert seen >= 45
    data = await gql(
        compat,
        "{ anomalies(first: 1000) { totalCount nodes { id anomalyType detectedAt severity score "
        "observation { id lon lat position { lon lat } } } } }",
    )
    nodes = data["anomalies"]["nodes"]
    assert data["anomalies"]["totalCount"] == len(original_db.data.anomalies) == len(nodes)
    assert any(n["anomalyType"] is None for n in nodes)
    assert any(n["detectedAt"] is None for n in nodes)
    for n in nodes:
        if n["observation"] is not None:
            o = by_id[int(n["observation"]["id"])]
            assert (n["observation"]["lon"], n["observation"]["lat"]) == (o.position or (None, None))


BBOX = (27.44, 42.48, 27.48, 42.52)


def in_bbox(p: tuple[float, float] | None) -> bool:
    return p is not None and BBOX[0] <= p[0] <= BBOX[2] and BBOX[1] <= p[1] <= BBOX[3]


async def test_spatial_filters_find_lat_lon_only_rows(
    compat: httpx.AsyncClient, original_db: OriginalDatabase
) -> None:
    want = expected(original_db)
    bbox_ids = {i for i, p in want.items() if in_bbox(p)}
    assert 50 < len(bbox_ids) < len(want)
    assert any(original_db.data.by_id()[int(i)].geom is None for i in bbox_ids)
    bbox = dict(zip(("minLon", "minLat", "maxLon", "maxLat"), BBOX, strict=True))
    for query in (
        "query($b: BBoxInput) { observations(first: 10000, filter: {bbox: $b}) { nodes { id } } }",
        "query($b: BBoxInput) { observations(first: 10000, filter: {bbox: $b}) { totalCount nodes { id } } }",
    ):
        nodes = (await gql(compat, query, {"b": bbox}))["observations"]["nodes"]
        assert {n["id"] for n in nodes} == bbox_ids
    polygon = shapely.box(*BBOX)
    within = (
        await gql(
            compat,
            "query($w: GeoJSON) { observations(first: 10000, filter: {within: $w}) { totalCount } }",
            {"w": shapely.geometry.mapping(polygon)},
        )
    )["observations"]["totalCount"]
    assert within == len(bbox_ids)

    center, radius_km = (27.46, 42.5), 2.5
    near_ids = {i for i, p in want.items() if p is not None and GEOD.inv(*center, *p)[2] <= radius_km * 1000}
    assert len(near_ids) > 10
    near = {"lon": center[0], "lat": center[1], "radiusMeters": radius_km * 1000}
    nodes = (
        await gql(
            compat,
            "query($n: NearInput) { observations(first: 10000, filter: {near: $n}) { nodes { id } } }",
            {"n": near},
        )
    )["observations"]["nodes"]
    assert {n["id"] for n in nodes} == near_ids
    rest = (
        await compat.get(
            "/api/observations",
            params={"lat": center[1], "lon": center[0], "radius_km": radius_km, "limit": ALL},
        )
    ).json()
    assert {str(r["id"]) for r in rest} == near_ids


async def test_sql_function_spells_the_same_rule(compat_app: object, original_db: OriginalDatabase) -> None:
    """`atlas4d.observation_point` (for SQL inside the database) and `atlas4d.core.position` agree on every row."""

    conn = await asyncpg.connect(original_db.url)
    try:
        rows = await conn.fetch(
            f"SELECT o.id, ST_AsText({point_sql('o')}) AS helper, "
            "ST_AsText(atlas4d.observation_point(o.geom, o.lon, o.lat)) AS function "
            "FROM atlas4d.observations_core o"
        )
    finally:
        await conn.close()
    assert len(rows) == len(original_db.data.observations)
    assert all(r["helper"] == r["function"] for r in rows)
    assert sum(r["helper"] is None for r in rows) == 4
