"""Aggregates computed in PostGIS: time buckets, spatial grid / H3 cells, GeoJSON FeatureCollections."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import strawberry

from atlas4d.core.context import Info
from atlas4d.core.filters import where
from atlas4d.core.position import has_position_sql, lat_sql, lon_sql, point_sql
from atlas4d.core.schema.inputs import ObservationFilter, observation_filter
from atlas4d.core.schema.scalars import Duration, GeoJSON
from atlas4d.core.schema.types import Position
from atlas4d.core.sql import Params
from atlas4d.errors import BadDuration, BadInput, PageTooLarge

BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


@strawberry.type(description="Observations in one time interval `[start, end)`.")
class ObservationBucket:
    start: datetime
    end: datetime
    count: int
    avg_speed: float | None
    min_altitude: float | None
    max_altitude: float | None
    entity_count: int


@strawberry.type(description="Observations in one spatial cell.")
class GridCell:
    cell: str = strawberry.field(description="`g:<size>:<ix>:<iy>` for square cells, the H3 index for H3.")
    count: int
    avg_speed: float | None
    center: Position
    geometry: GeoJSON


async def observation_buckets(
    info: Info, interval: Duration, filter: ObservationFilter | None = None
) -> list[ObservationBucket]:
    if interval < timedelta(seconds=1):
        raise BadInput("`interval` must be at least PT1S", field="interval")
    if interval > timedelta(days=366 * 100):
        raise BadDuration("`interval` must be at most 100 years", field="interval")
    params = Params()
    clauses = observation_filter(filter).sql(params)
    limit = info.context.settings.max_page_size
    iv = params.add(interval, "interval")
    rows = await info.context.pool.fetch(
        f"SELECT date_bin({iv}, o.t, {params.add(BUCKET_ORIGIN)}) AS start, count(*) AS n, "
        "avg(o.speed_ms) AS avg_speed, min(o.altitude_m) AS min_alt, max(o.altitude_m) AS max_alt, "
        "count(DISTINCT o.entity_id) AS entities "
        f"FROM atlas4d.observations_core o {where(clauses)} GROUP BY 1 ORDER BY 1 LIMIT {limit + 1}",
        *params.values,
    )
    if len(rows) > limit:
        raise PageTooLarge(f"more than {limit} buckets; use a longer interval or a shorter time range")
    return [
        ObservationBucket(
            start=r["start"],
            end=r["start"] + interval,
            count=r["n"],
            avg_speed=r["avg_speed"],
            min_altitude=r["min_alt"],
            max_altitude=r["max_alt"],
            entity_count=r["entities"],
        )
        for r in rows
    ]


async def observation_grid(
    info: Info,
    filter: ObservationFilter | None = None,
    cell_size: float | None = strawberry.UNSET,
    h3_resolution: int | None = strawberry.UNSET,
) -> list[GridCell]:
    if (cell_size is None or cell_size is strawberry.UNSET) == (
        h3_resolution is None or h3_resolution is strawberry.UNSET
    ):
        raise BadInput("give exactly one of `cellSize` (degrees) and `h3Resolution`", field="cellSize")
    params = Params()
    clauses = observation_filter(filter).sql(params)
    limit = info.context.settings.max_page_size
    if h3_resolution is not None and h3_resolution is not strawberry.UNSET:
        return await _h3_grid(info, clauses, params, h3_resolution, limit)
    assert isinstance(cell_size, float | int)
    if not (math.isfinite(cell_size) and 1e-6 <= cell_size <= 90):
        raise BadInput("`cellSize` must be between 0.000001 and 90 degrees", field="cellSize")
    size = params.add(float(cell_size), "float8")
    rows = await info.context.pool.fetch(
        f"SELECT floor({lon_sql('o')} / {size})::bigint AS ix, floor({lat_sql('o')} / {size})::bigint AS iy, "
        "count(*) AS n, avg(o.speed_ms) AS avg_speed "
        f"FROM atlas4d.observations_core o {where([*clauses, has_position_sql('o')])} "
        f"GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT {limit + 1}",
        *params.values,
    )
    if len(rows) > limit:
        raise PageTooLarge(f"more than {limit} cells; use a larger cellSize or a narrower filter")
    out = []
    for r in rows:
        x0, y0 = r["ix"] * cell_size, r["iy"] * cell_size
        x1, y1 = x0 + cell_size, y0 + cell_size
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        out.append(
            GridCell(
                cell=f"g:{cell_size}:{r['ix']}:{r['iy']}",
                count=r["n"],
                avg_speed=r["avg_speed"],
                center=Position(lon=(x0 + x1) / 2, lat=(y0 + y1) / 2),
                geometry=GeoJSON({"type": "Polygon", "coordinates": [ring]}),
            )
        )
    return out


async def _h3_grid(
    info: Info, clauses: list[str], params: Params, resolution: int, limit: int
) -> list[GridCell]:
    """H3 cells: aggregated in SQL by the h3 extension when installed, else by the h3 library per point."""
    import h3

    if not 0 <= resolution <= 15:
        raise BadInput("`h3Resolution` must be within 0..15", field="h3Resolution")
    pool = info.context.pool
    has_ext = await pool.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'h3')")
    counts: dict[str, tuple[int, float, int]] = {}
    if has_ext:
        rows = await pool.fetch(
            f"SELECT h3_lat_lng_to_cell({point_sql('o')}::point, {params.add(resolution)})::text AS cell, "
            "count(*) AS n, sum(o.speed_ms) AS speed_sum, count(o.speed_ms) AS speed_n "
            f"FROM atlas4d.observations_core o {where([*clauses, has_position_sql('o')])} GROUP BY 1",
            *params.values,
        )
        counts = {r["cell"]: (r["n"], r["speed_sum"] or 0.0, r["speed_n"]) for r in rows}
    else:
        # Without the extension, PostGIS pre-aggregates on the exact coordinates and Python assigns cells.
        rows = await pool.fetch(
            f"SELECT {lon_sql('o')} AS lon, {lat_sql('o')} AS lat, count(*) AS n, sum(o.speed_ms) AS speed_sum, "
            f"count(o.speed_ms) AS speed_n FROM atlas4d.observations_core o "
            f"{where([*clauses, has_position_sql('o')])} GROUP BY 1, 2",
            *params.values,
        )
        for r in rows:
            cell = h3.latlng_to_cell(r["lat"], r["lon"], resolution)
            n, s, k = counts.get(cell, (0, 0.0, 0))
            counts[cell] = (n + r["n"], s + (r["speed_sum"] or 0.0), k + r["speed_n"])
    if len(counts) > limit:
        raise PageTooLarge(f"more than {limit} cells; use a coarser h3Resolution or a narrower filter")
    out = []
    for cell, (n, speed_sum, speed_n) in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0])):
        lat, lon = h3.cell_to_latlng(cell)
        ring = [[p[1], p[0]] for p in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        out.append(
            GridCell(
                cell=cell,
                count=n,
                avg_speed=speed_sum / speed_n if speed_n else None,
                center=Position(lon=lon, lat=lat),
                geometry=GeoJSON({"type": "Polygon", "coordinates": [ring]}),
            )
        )
    return out


async def observations_geojson(
    info: Info, filter: ObservationFilter | None = None, limit: int | None = None
) -> GeoJSON:
    s = info.context.settings
    if limit is None:
        limit = s.default_page_size
    if limit < 0:
        raise BadInput("`limit` must be >= 0", field="limit")
    if limit > s.max_page_size:
        raise PageTooLarge(f"`limit` is {limit}; the largest is {s.max_page_size}", maximum=s.max_page_size)
    params = Params()
    clauses = observation_filter(filter).sql(params)
    value = await info.context.pool.fetchval(
        "SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object("
        f"'type', 'Feature', 'id', q.id, 'geometry', ST_AsGeoJSON({point_sql('q')}, 7)::json, 'properties', "
        "json_build_object('time', q.t, 'entityId', q.entity_id, 'trackId', q.track_id, "
        "'sourceType', q.source_type, 'altitude', q.altitude_m, 'speed', q.speed_ms, 'heading', q.heading_deg)"
        ") ORDER BY q.t DESC, q.id DESC), '[]'::json)) FROM ("
        f"SELECT o.* FROM atlas4d.observations_core o {where(clauses)} ORDER BY o.t DESC, o.id DESC "
        f"LIMIT {params.add(limit)}) q",
        *params.values,
    )
    return GeoJSON(value)
