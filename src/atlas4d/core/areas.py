"""`within` areas: a GeoJSON Polygon or MultiPolygon checked by us before GEOS sees it.

Issue 12 found GEOS's own parser messages ("ParseException: Error parsing JSON: '[json.exception.type_error.302]
…'", "IllegalArgumentException: …") in `BAD_GEOMETRY` errors. The structure (types, ring lengths, numbers,
closed rings) is checked here with messages of ours that name the ring and position at fault; GEOS then only
builds the shape and judges its validity, whose reason is reworded ("Self-intersection[1 1]" -> "self-intersection
at (1, 1)").
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from atlas4d.errors import BadGeometry

MAX_POSITIONS = 100_000  # a polygon filter this detailed is a mistake; bounds GEOS's work too


def parse_area(geojson: Any) -> BaseGeometry:
    """A GeoJSON Polygon or MultiPolygon (object or string), valid, in lon/lat."""
    value = _load(geojson)
    kind = value.get("type")
    coordinates = value.get("coordinates")
    if kind == "Polygon":
        positions = _polygon(coordinates, "coordinates")
    elif kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise _bad("`coordinates` of a MultiPolygon must be a non-empty list of polygons")
        positions = sum(_polygon(p, f"coordinates[{i}]") for i, p in enumerate(coordinates))
    else:
        raise _bad(f"`within` must be a Polygon or MultiPolygon, got {_name(kind)}")
    if positions > MAX_POSITIONS:
        raise _bad(f"`within` has {positions:,} positions; the most is {MAX_POSITIONS:,}")
    try:
        geom = shapely.from_geojson(orjson.dumps({"type": kind, "coordinates": coordinates}))
    except Exception as exc:  # checked above; GEOS refusing anyway is still the client's input
        raise _bad("`within` is not a valid GeoJSON Polygon or MultiPolygon") from exc
    if geom.is_empty:
        raise _bad("`within` is empty")
    if not geom.is_valid:
        raise _bad(f"`within` is not a valid polygon: {_reason(shapely.is_valid_reason(geom))}")
    return shapely.set_srid(geom, 4326)


def _load(geojson: Any) -> dict[str, Any]:
    if isinstance(geojson, str):
        try:
            geojson = orjson.loads(geojson)
        except orjson.JSONDecodeError:
            raise _bad("`within` is not JSON") from None
    if not isinstance(geojson, dict):
        raise _bad("`within` must be a GeoJSON object")
    return geojson


def _polygon(rings: Any, where: str) -> int:
    if not isinstance(rings, list) or not rings:
        raise _bad(f"`{where}` of a Polygon must be a non-empty list of rings")
    total = 0
    for r, ring in enumerate(rings):
        at = f"{where}[{r}]"
        if not isinstance(ring, list) or len(ring) < 4:
            got = f"{len(ring)} positions" if isinstance(ring, list) else _name(ring)
            raise _bad(f"ring `{at}` needs at least 4 positions (first = last), got {got}")
        for p, position in enumerate(ring):
            if not isinstance(position, list) or not 2 <= len(position) <= 3:
                raise _bad(f"`{at}[{p}]` must be [lon, lat] or [lon, lat, altitude]")
            if not all(_number(c) for c in position):
                raise _bad(f"`{at}[{p}]` must hold finite numbers")
            lon, lat = position[0], position[1]
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise _bad(f"`{at}[{p}]`: coordinates must be lon -180..180 and lat -90..90")
        if ring[0][:2] != ring[-1][:2]:
            raise _bad(f"ring `{at}` is not closed: its first and last positions differ")
        total += len(ring)
    return total


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _name(value: Any) -> str:
    return repr(value[:40]) if isinstance(value, str) else type(value).__name__


_AT = re.compile(r"^(?P<what>[^\[]*)\[(?P<x>[-0-9.eE+]+) (?P<y>[-0-9.eE+]+)\]$")


def _reason(reason: str) -> str:
    """GEOS's "Self-intersection[0.5 0.5]" as "self-intersection at (0.5, 0.5)"."""
    found = _AT.match(reason.strip())
    if found is None:
        return "the rings cross or overlap"
    return f"{found['what'].strip().lower()} at ({found['x']}, {found['y']})"


def _bad(message: str) -> BadGeometry:
    return BadGeometry(message, field="within")
