"""Query parameters of the Core Spec endpoints, checked at the edge and turned into filters.

Defaults are the original Atlas4D's (`radius_km=10`, `hours=24`, per-endpoint `limit`); where the original
was lax (a `lat` without `lon`, a negative radius, an unbounded limit) the request is refused with 400.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from starlette.datastructures import QueryParams

from atlas4d.core.filters import Near, ObservationFilter, TimeRange
from atlas4d.errors import BadInput, BadTimeRange, PageTooLarge

MAX_HOURS = 24 * 366 * 100  # a century: beyond it the window is all of history anyway


def number(query: QueryParams, name: str, default: float | None = None) -> float | None:
    raw = query.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(f"{name} must be a number, got {raw[:40]!r}", field=name) from None
    if not math.isfinite(value):
        raise BadInput(f"{name} must be a finite number, got {raw[:40]!r}", field=name)
    return value


def integer(query: QueryParams, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadInput(f"{name} must be an integer, got {raw[:40]!r}", field=name) from None


def limit(query: QueryParams, default: int, maximum: int) -> int:
    value = integer(query, "limit", default)
    if value < 1:
        raise BadInput(f"limit must be at least 1, got {value}", field="limit")
    if value > maximum:
        raise PageTooLarge(f"limit {value} is above the maximum {maximum}", field="limit", maximum=maximum)
    return value


def hours_window(query: QueryParams, default: float = 24) -> TimeRange:
    """`hours` back from now, as a half-open time range."""
    hours = number(query, "hours", default)
    assert hours is not None
    if not 0 < hours <= MAX_HOURS:
        raise BadTimeRange(f"hours must be > 0 and at most {MAX_HOURS}, got {hours:g}", field="hours")
    return TimeRange.build(None, None, timedelta(hours=hours))


def texts(query: QueryParams, name: str) -> list[str] | None:
    values = [v for v in query.getlist(name) if v != ""]
    if any("\x00" in v for v in values):
        raise BadInput(f"{name} must not contain NUL characters", field=name)
    return values or None


@dataclass(frozen=True)
class ObservationQuery:
    filter: ObservationFilter
    limit: int


def observation_query(query: QueryParams, *, default_limit: int, max_limit: int) -> ObservationQuery:
    """`lat`, `lon`, `radius_km`, `hours`, `limit`, `source_type` as in Core Spec §2.3."""
    lat = number(query, "lat")
    lon = number(query, "lon")
    near = None
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise BadInput(f"lat and lon go together: {missing} is missing", field=missing)
    if lat is not None and lon is not None:
        radius_km = number(query, "radius_km", 10.0)
        assert radius_km is not None
        try:
            near = Near(lon=lon, lat=lat, radius_m=radius_km * 1000)
        except BadInput as exc:
            if exc.extensions.get("field") == "radiusMeters":
                raise BadInput(
                    f"radius_km must be > 0 and at most 20037.5, got {radius_km:g}", field="radius_km"
                ) from None
            raise
    return ObservationQuery(
        ObservationFilter(near=near, time=hours_window(query), source_types=texts(query, "source_type")),
        limit(query, default_limit, max_limit),
    )
