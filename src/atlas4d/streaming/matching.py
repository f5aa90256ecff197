"""Which subscriptions a batch of new observations matches: the query path's `ObservationFilter`, evaluated on
rows read back after commit instead of in SQL.

Spatial predicates go through one shapely STRtree over every subscription's area, queried with the whole
batch at once (`STRtree.query(points, predicate="intersects")`, vectorised in GEOS): a bbox is its box (two
across the antimeridian), `within` is its polygon, both tested exactly by the tree's predicate with the same
closed-boundary semantics as PostGIS' ST_Intersects. `near` is geodesic on the WGS 84 spheroid: the tree holds
a box that surely contains the circle, and the candidates are then decided by PostGIS itself
(`ST_DWithin(geography, geography, r)`, the query path's expression) in one statement per batch, so both
paths agree on distances to the last digit. Everything else (altitude, time, source types, entity, track and
kind lists) is plain comparisons with SQL's null rules: a null column never satisfies a predicate on it.

`time: {last: …}` slides: it is measured from the moment a batch is matched, not from the subscription's start.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from atlas4d.core.filters import BBox, Near, ObservationFilter

M_PER_DEG_LAT_MIN = 110_574.0  # the shortest degree of latitude on WGS 84 (at the equator)
M_PER_DEG_LON_EQ = 111_319.5  # a degree of longitude at the equator on WGS 84

# (points' lon, lat, centres' lon, lat, radii) -> indices of the pairs within their radius
NearCheck = Callable[[list[float], list[float], list[float], list[float], list[float]], Awaitable[set[int]]]


@dataclass(frozen=True)
class ObservationSpec:
    """What one subscription matches: the query path's filter, and the `last` window when it slides."""

    filter: ObservationFilter
    last: timedelta | None = None


def _boxes(bbox: BBox) -> BaseGeometry:
    parts = [shapely.box(*e) for e in bbox.envelopes()]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def near_envelope(near: Near) -> BaseGeometry:
    """A lon/lat area that surely contains every point within `near.radius_m` (geodesic) of the centre."""
    dlat = near.radius_m / M_PER_DEG_LAT_MIN * 1.01 + 1e-6
    lat_lo, lat_hi = near.lat - dlat, near.lat + dlat
    if lat_lo <= -89.0 or lat_hi >= 89.0:
        return shapely.box(-180, max(lat_lo, -90), 180, min(lat_hi, 90))
    widest = math.cos(math.radians(max(abs(lat_lo), abs(lat_hi))))
    dlon = near.radius_m / (M_PER_DEG_LON_EQ * widest) * 1.01 + 1e-6
    if dlon >= 180:
        return shapely.box(-180, lat_lo, 180, lat_hi)
    lo, hi = near.lon - dlon, near.lon + dlon
    if lo < -180:
        return shapely.MultiPolygon(
            [shapely.box(lo + 360, lat_lo, 180, lat_hi), shapely.box(-180, lat_lo, hi, lat_hi)]
        )
    if hi > 180:
        return shapely.MultiPolygon(
            [shapely.box(lo, lat_lo, 180, lat_hi), shapely.box(-180, lat_lo, hi - 360, lat_hi)]
        )
    return shapely.box(lo, lat_lo, hi, lat_hi)


def in_bbox(bbox: BBox, lon: float, lat: float) -> bool:
    if not bbox.min_lat <= lat <= bbox.max_lat:
        return False
    if bbox.crosses_antimeridian:
        return lon >= bbox.min_lon or lon <= bbox.max_lon
    return bbox.min_lon <= lon <= bbox.max_lon


def _primary(flt: ObservationFilter) -> tuple[str, BaseGeometry] | None:
    """The spatial predicate the tree answers for this filter (the others are checked per candidate)."""
    if flt.within is not None:
        return "within", flt.within
    if flt.bbox is not None:
        return "bbox", _boxes(flt.bbox)
    if flt.near is not None:
        return "near", near_envelope(flt.near)
    return None


def scalar_match(spec: ObservationSpec, row: Any, now: datetime) -> bool:
    """The non-spatial predicates of `spec` on one row (SQL's null rules)."""
    f = spec.filter
    if f.altitude is not None:
        alt = row["altitude_m"]
        if alt is None or (f.altitude.min is not None and alt < f.altitude.min):
            return False
        if f.altitude.max is not None and alt > f.altitude.max:
            return False
    if spec.last is not None:
        if row["t"] < now - spec.last:
            return False
    elif f.time is not None:
        t = row["t"]
        if (f.time.start is not None and t < f.time.start) or (f.time.end is not None and t >= f.time.end):
            return False
    if f.source_types is not None and row["source_type"] not in f.source_types:
        return False
    if f.entity_ids is not None and row["entity_id"] not in f.entity_ids:
        return False
    if f.track_ids is not None and row["track_id"] not in f.track_ids:
        return False
    return f.kinds is None or row["kind"] in f.kinds


class ObservationIndex:
    """The live observation subscriptions of a process, indexed for matching whole batches."""

    def __init__(self) -> None:
        self._specs: dict[int, tuple[object, ObservationSpec]] = {}
        self._tree: shapely.STRtree | None = None
        self._tree_owners: list[int] = []
        self._tree_kinds: list[str] = []
        self._unbounded: list[int] = []
        self._simple: set[int] = set()  # nothing to check once the tree says yes (plain bbox/within)
        self._dirty = True

    def __len__(self) -> int:
        return len(self._specs)

    def add(self, owner: object, spec: ObservationSpec) -> None:
        self._specs[id(owner)] = (owner, spec)
        self._dirty = True

    def discard(self, owner: object) -> None:
        if self._specs.pop(id(owner), None) is not None:
            self._dirty = True

    def _rebuild(self) -> None:
        geoms: list[BaseGeometry] = []
        self._tree_owners, self._tree_kinds, self._unbounded, self._simple = [], [], [], set()
        for key, (_, spec) in self._specs.items():
            primary = _primary(spec.filter)
            if primary is None:
                self._unbounded.append(key)
                continue
            kind, geom = primary
            geoms.append(geom)
            self._tree_owners.append(key)
            self._tree_kinds.append(kind)
            f = spec.filter
            spatial = sum(x is not None for x in (f.bbox, f.within, f.near))
            if kind != "near" and spatial == 1 and _scalar_free(spec):
                self._simple.add(key)
        self._tree = shapely.STRtree(geoms) if geoms else None
        self._dirty = False

    async def match(self, rows: Sequence[Any], now: datetime, conn: Any) -> dict[object, list[int]]:
        """For each subscription with matches, the indices (ascending) of the rows it matches (`conn`
        decides `near` candidates)."""

        async def near_check(*columns: list[float]) -> set[int]:
            return {r["i"] for r in await conn.fetch(NEAR_SQL, *columns)}

        if self._dirty:
            self._rebuild()
        hits: dict[int, list[int]] = {}
        for key in self._unbounded:
            spec = self._specs[key][1]
            chosen = [i for i, r in enumerate(rows) if scalar_match(spec, r, now)]
            if chosen:
                hits[key] = chosen
        placed = [i for i, r in enumerate(rows) if r["lon"] is not None and r["lat"] is not None]
        if self._tree is not None and placed:
            lons = np.fromiter((rows[i]["lon"] for i in placed), float, len(placed))
            lats = np.fromiter((rows[i]["lat"] for i in placed), float, len(placed))
            points = shapely.points(lons, lats)
            point_idx, geom_idx = self._tree.query(points, predicate="intersects")
            near_pairs: list[tuple[int, int]] = []
            for p, g in zip(point_idx.tolist(), geom_idx.tolist(), strict=True):
                key = self._tree_owners[g]
                row_index = placed[p]
                if key in self._simple:
                    hits.setdefault(key, []).append(row_index)
                    continue
                spec = self._specs[key][1]
                row = rows[row_index]
                if not self._rest_spatial(spec, self._tree_kinds[g], row) or not scalar_match(spec, row, now):
                    continue
                if spec.filter.near is not None:
                    near_pairs.append((key, row_index))
                else:
                    hits.setdefault(key, []).append(row_index)
            if near_pairs:
                await self._decide_near(rows, near_pairs, near_check, hits)
        return {self._specs[k][0]: sorted(v) for k, v in hits.items()}

    @staticmethod
    def _rest_spatial(spec: ObservationSpec, primary: str, row: Any) -> bool:
        f = spec.filter
        lon, lat = row["lon"], row["lat"]
        if f.bbox is not None and primary != "bbox" and not in_bbox(f.bbox, lon, lat):
            return False
        return not (
            f.within is not None
            and primary != "within"
            and not shapely.intersects(f.within, shapely.Point(lon, lat))
        )

    async def _decide_near(
        self,
        rows: Sequence[Any],
        pairs: list[tuple[int, int]],
        near_check: NearCheck,
        hits: dict[int, list[int]],
    ) -> None:
        centres = [self._specs[key][1].filter.near for key, _ in pairs]
        inside = await near_check(
            [rows[i]["lon"] for _, i in pairs],
            [rows[i]["lat"] for _, i in pairs],
            [c.lon for c in centres if c is not None],
            [c.lat for c in centres if c is not None],
            [c.radius_m for c in centres if c is not None],
        )
        for n, (key, row_index) in enumerate(pairs):
            if n in inside:
                hits.setdefault(key, []).append(row_index)


def _scalar_free(spec: ObservationSpec) -> bool:
    f = spec.filter
    return spec.last is None and all(
        x is None for x in (f.altitude, f.time, f.source_types, f.entity_ids, f.track_ids, f.kinds)
    )


NEAR_SQL = (
    "SELECT (u.i - 1)::int AS i FROM unnest($1::float8[], $2::float8[], $3::float8[], $4::float8[], $5::float8[]) "
    "WITH ORDINALITY AS u(lon, lat, clon, clat, r, i) "
    "WHERE ST_DWithin(ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography, "
    "ST_SetSRID(ST_MakePoint(u.clon, u.clat), 4326)::geography, u.r)"
)
