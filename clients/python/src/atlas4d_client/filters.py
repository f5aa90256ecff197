"""Filters as Python objects, turned into the GraphQL input objects of the API (`ObservationFilter`,
`EntityFilter`, `TrackFilter`, `AnomalyFilter`).

Spatial values accept shapely geometries (anything with `__geo_interface__`) as well as GeoJSON dicts;
times are aware `datetime`s, durations `timedelta`s (or ISO-8601 strings). What only the server can judge
(ranges, UUIDs, polygon validity) is left to it: it answers with a typed error naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeAlias, runtime_checkable

import isodate


@runtime_checkable
class GeoInterface(Protocol):
    """shapely geometries, GeoPandas geometries and our own results all have this."""

    @property
    def __geo_interface__(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class BBox:
    """A lon/lat box, inclusive. `min_lon > max_lon` means it crosses the antimeridian (as in GeoJSON)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def of(cls, geometry: GeoInterface | Mapping[str, Any]) -> BBox:
        """The bounds of a shapely geometry (or GeoJSON geometry dict)."""
        from shapely.geometry import shape

        min_lon, min_lat, max_lon, max_lat = shape(geojson_of(geometry)).bounds
        return cls(min_lon, min_lat, max_lon, max_lat)

    def to_graphql(self) -> dict[str, float]:
        return {
            "minLon": self.min_lon,
            "minLat": self.min_lat,
            "maxLon": self.max_lon,
            "maxLat": self.max_lat,
        }


@dataclass(frozen=True)
class Near:
    """Within `radius_meters` (geodesic, WGS 84 spheroid) of a point."""

    lon: float
    lat: float
    radius_meters: float

    @classmethod
    def point(cls, point: GeoInterface | Mapping[str, Any], radius_meters: float) -> Near:
        """From a shapely Point (or GeoJSON Point)."""
        geo = geojson_of(point)
        if geo.get("type") != "Point":
            raise ValueError(f"Near.point needs a Point, got {geo.get('type')!r}")
        lon, lat = geo["coordinates"][:2]
        return cls(float(lon), float(lat), radius_meters)

    def to_graphql(self) -> dict[str, float]:
        return {"lon": self.lon, "lat": self.lat, "radiusMeters": self.radius_meters}


@dataclass(frozen=True)
class TimeRange:
    """Half-open `[start, end)`; either end may be None. Times must carry a zone."""

    start: datetime | None = None
    end: datetime | None = None

    def to_graphql(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.start is not None:
            out["from"] = format_datetime(self.start)
        if self.end is not None:
            out["to"] = format_datetime(self.end)
        return out


@dataclass(frozen=True)
class Last:
    """The last `period` up to now (e.g. `Last(timedelta(hours=1))` or `Last("PT1H")`)."""

    period: timedelta | str

    def to_graphql(self) -> dict[str, str]:
        return {"last": format_duration(self.period)}


@dataclass(frozen=True)
class Range:
    """Inclusive numeric range; either end may be None."""

    min: float | None = None
    max: float | None = None

    def to_graphql(self) -> dict[str, float]:
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}


BBoxLike: TypeAlias = BBox | tuple[float, float, float, float]
NearLike: TypeAlias = Near | tuple[float, float, float]
TimeLike: TypeAlias = TimeRange | Last | timedelta | tuple[datetime | None, datetime | None]
AreaLike: TypeAlias = GeoInterface | Mapping[str, Any]


@dataclass(frozen=True)
class ObservationFilter:
    """All given predicates must hold. `within` takes a shapely Polygon/MultiPolygon or a GeoJSON dict;
    `time` a TimeRange, Last, a timedelta (the last period) or a `(start, end)` tuple."""

    bbox: BBoxLike | None = None
    within: AreaLike | None = None
    near: NearLike | None = None
    altitude: Range | tuple[float | None, float | None] | None = None
    time: TimeLike | None = None
    source_types: Sequence[str] | None = None
    entity_ids: Sequence[str] | None = None
    track_ids: Sequence[str] | None = None
    kinds: Sequence[str] | None = None

    def to_graphql(self) -> dict[str, Any]:
        out: dict[str, Any] = _spatial(self.bbox, self.within, self.near)
        if self.altitude is not None:
            alt = self.altitude if isinstance(self.altitude, Range) else Range(*self.altitude)
            out["altitude"] = alt.to_graphql()
        if self.time is not None:
            out["time"] = time_input(self.time)
        _lists(out, sourceTypes=self.source_types, entityIds=self.entity_ids, trackIds=self.track_ids)
        _lists(out, kinds=self.kinds)
        return out


@dataclass(frozen=True)
class EntityFilter:
    ids: Sequence[str] | None = None
    kinds: Sequence[str] | None = None
    source_types: Sequence[str] | None = None
    name_contains: str | None = None
    observations: ObservationFilter | None = None
    """Only entities with at least one matching observation."""

    def to_graphql(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        _lists(out, ids=self.ids, kinds=self.kinds, sourceTypes=self.source_types)
        if self.name_contains is not None:
            out["nameContains"] = self.name_contains
        if self.observations is not None:
            out["observations"] = self.observations.to_graphql()
        return out


@dataclass(frozen=True)
class TrackFilter:
    """Spatial predicates test the track's line; `time` keeps tracks whose span overlaps it."""

    ids: Sequence[str] | None = None
    entity_ids: Sequence[str] | None = None
    source_types: Sequence[str] | None = None
    kinds: Sequence[str] | None = None
    bbox: BBoxLike | None = None
    within: AreaLike | None = None
    near: NearLike | None = None
    time: TimeLike | None = None
    min_length_meters: float | None = None

    def to_graphql(self) -> dict[str, Any]:
        out: dict[str, Any] = _spatial(self.bbox, self.within, self.near)
        _lists(out, ids=self.ids, entityIds=self.entity_ids, sourceTypes=self.source_types, kinds=self.kinds)
        if self.time is not None:
            out["time"] = time_input(self.time)
        if self.min_length_meters is not None:
            out["minLengthMeters"] = self.min_length_meters
        return out


@dataclass(frozen=True)
class AnomalyFilter:
    types: Sequence[str] | None = None
    min_severity: int | None = None
    min_score: float | None = None
    time: TimeLike | None = None
    """On `detectedAt`."""
    observation_ids: Sequence[str | int] | None = None
    observations: ObservationFilter | None = None

    def to_graphql(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        _lists(out, types=self.types)
        if self.min_severity is not None:
            out["minSeverity"] = self.min_severity
        if self.min_score is not None:
            out["minScore"] = self.min_score
        if self.time is not None:
            out["time"] = time_input(self.time)
        if self.observation_ids is not None:
            out["observationIds"] = [str(i) for i in self.observation_ids]
        if self.observations is not None:
            out["observations"] = self.observations.to_graphql()
        return out


AnyFilter: TypeAlias = ObservationFilter | EntityFilter | TrackFilter | AnomalyFilter


def filter_input(value: AnyFilter | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A filter object, or a dict already in the API's shape (passed as is)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    return value.to_graphql()


def geojson_of(value: GeoInterface | Mapping[str, Any]) -> dict[str, Any]:
    """A GeoJSON geometry dict from a shapely geometry, a `__geo_interface__` object or a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, GeoInterface):
        plain: dict[str, Any] = _plain(value.__geo_interface__)
        return plain
    raise TypeError(
        f"expected a GeoJSON dict or a geometry with __geo_interface__, got {type(value).__name__}"
    )


def _plain(value: Any) -> Any:
    """shapely's __geo_interface__ uses tuples; JSON encoders accept them, but equality with dicts from the
    server is easier on lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def time_input(value: TimeLike) -> dict[str, str]:
    if isinstance(value, TimeRange | Last):
        return value.to_graphql()
    if isinstance(value, timedelta):
        return Last(value).to_graphql()
    if isinstance(value, tuple) and len(value) == 2:
        return TimeRange(*value).to_graphql()
    raise TypeError(f"time must be a TimeRange, Last, timedelta or (start, end) tuple, got {value!r}")


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value!r} has no time zone; the API needs aware datetimes (e.g. tzinfo=UTC)")
    return value.isoformat()


def format_duration(value: timedelta | str) -> str:
    if isinstance(value, str):
        return value
    if value <= timedelta(0):
        raise ValueError(f"a duration must be positive, got {value!r}")
    text: str = isodate.duration_isoformat(value)
    return text


def parse_duration(text: str) -> timedelta:
    value = isodate.parse_duration(text)
    if not isinstance(value, timedelta):  # years or months, which the API never returns
        raise ValueError(f"{text!r} is not a fixed-length duration")
    return value


def _spatial(bbox: BBoxLike | None, within: AreaLike | None, near: NearLike | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if bbox is not None:
        out["bbox"] = (bbox if isinstance(bbox, BBox) else BBox(*bbox)).to_graphql()
    if within is not None:
        out["within"] = geojson_of(within)
    if near is not None:
        out["near"] = (near if isinstance(near, Near) else Near(*near)).to_graphql()
    return out


def _lists(out: dict[str, Any], **lists: Sequence[str] | None) -> None:
    for key, values in lists.items():
        if values is not None:
            if isinstance(values, str):
                raise TypeError(f"{key} takes a list of strings, not one string ({values!r})")
            out[key] = list(values)
