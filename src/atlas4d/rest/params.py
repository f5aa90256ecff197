"""Query parameters of the Core Spec endpoints, checked at the edge and turned into filters.

Defaults and leniency are the original Atlas4D's, because its clients depend on them (its SDK sends `lat`
without `lon` when only one is given): `lat` or `lon` alone means no spatial filter; `limit=0` is an empty
page and a `limit` above the largest page is cut to it; `hours` of 0 or less is a window starting in the
future (empty unless rows are future-dated), as `t > now() - hours` was; any integer `severity_min` filters
`severity >= severity_min`; a `radius_km` of 0 or less matches nothing. What is refused (400) is what the
original could not answer either (it failed with 422 or 500): text where a number goes, NaN/infinity, a
negative `limit`, a centre outside WGS 84. docs/core-spec-compat.md lists every deliberate difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.datastructures import QueryParams

from atlas4d.core.filters import EARTH_HALF_CIRCUMFERENCE_M, Near, ObservationFilter, TimeRange
from atlas4d.errors import BadInput

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
    """0 is an empty page; above `maximum` is cut to it (the original had no maximum)."""
    value = integer(query, "limit", default)
    if value < 0:
        raise BadInput(f"limit must be 0 or more, got {value}", field="limit")
    return min(value, maximum)


def hours_window(query: QueryParams, default: float = 24) -> TimeRange:
    """`t >= now() - hours`: negative hours start the window in the future; beyond a century either way the
    window is all of history (or none of it), so it is cut there and date arithmetic stays in range."""
    hours = number(query, "hours", default)
    assert hours is not None
    hours = max(-MAX_HOURS, min(MAX_HOURS, hours))
    return TimeRange(datetime.now(UTC) - timedelta(hours=hours), None)


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
    radius_km = number(query, "radius_km", 10.0)
    assert radius_km is not None
    near = None
    nothing: list[str] = []
    if lat is not None and lon is not None:  # one of them alone: no spatial filter, as in the original
        if radius_km <= 0:
            nothing = ["false"]  # no point is within a radius of 0 or less
        else:
            # beyond half the Earth's circumference every point is within reach
            radius_m = min(radius_km * 1000, EARTH_HALF_CIRCUMFERENCE_M)
            near = Near(lon=lon, lat=lat, radius_m=radius_m)  # refuses a centre outside WGS 84
    return ObservationQuery(
        ObservationFilter(
            near=near, time=hours_window(query), source_types=texts(query, "source_type"), extra=nothing
        ),
        limit(query, default_limit, max_limit),
    )
