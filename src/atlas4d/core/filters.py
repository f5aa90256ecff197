"""Spatial and temporal filters, validated at the edge and turned into SQL predicates.

The same filter objects serve GraphQL and the Core Spec REST endpoints, so both answer identically.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shapely.geometry.base import BaseGeometry

from atlas4d.core.areas import parse_area as parse_area  # re-exported: filters are built from it
from atlas4d.core.position import spatial_predicate
from atlas4d.core.sql import Params
from atlas4d.core.values import EARLIEST as EARLIEST  # re-exported, as below: they lived here
from atlas4d.core.values import LATEST as LATEST
from atlas4d.core.values import check_instant as check_instant
from atlas4d.core.values import has_nul as has_nul
from atlas4d.errors import BadBBox, BadDuration, BadInput, BadTimeRange

EARTH_HALF_CIRCUMFERENCE_M = 20_037_509.0

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


MAX_DURATION = timedelta(days=366 * 200)  # far beyond any data; keeps date arithmetic in range


def parse_duration(text: str) -> timedelta:
    """ISO-8601 duration without years and months (their length is ambiguous): PnW, PnDTnHnMnS."""
    match = _DURATION.match(text.strip().upper()) if text else None
    if not match:
        raise BadDuration(
            f"{text!r} is not an ISO-8601 duration such as PT1H, PT15M, P1D or P1DT12H "
            "(years and months are not accepted)"
        )
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    try:
        delta = timedelta(**parts)
    except OverflowError as exc:
        raise BadDuration(f"duration {text!r} is too long") from exc
    if delta > MAX_DURATION:
        raise BadDuration(f"duration {text!r} is longer than {MAX_DURATION.days} days")
    if delta <= timedelta(0):
        raise BadDuration(f"duration {text!r} must be positive")
    return delta


def format_duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(
        f"{int(v) if float(v).is_integer() else v}{u}"
        for v, u in ((hours, "H"), (minutes, "M"), (secs, "S"))
        if v
    )
    return "P" + (f"{int(days)}D" if days else "") + (f"T{time}" if time else "") if seconds else "PT0S"


def _finite(value: float, name: str, error: type[BadInput] = BadInput) -> float:
    if not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {value}", field=name)
    return value


@dataclass(frozen=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def __post_init__(self) -> None:
        for name in ("min_lon", "min_lat", "max_lon", "max_lat"):
            _finite(getattr(self, name), name, BadBBox)
        for name in ("min_lon", "max_lon"):
            if not -180 <= getattr(self, name) <= 180:
                raise BadBBox(f"bbox {name} must be within -180..180, got {getattr(self, name)}", field=name)
        for name in ("min_lat", "max_lat"):
            if not -90 <= getattr(self, name) <= 90:
                raise BadBBox(f"bbox {name} must be within -90..90, got {getattr(self, name)}", field=name)
        if self.min_lat > self.max_lat:
            raise BadBBox(f"bbox minLat {self.min_lat} is above maxLat {self.max_lat}")

    @property
    def crosses_antimeridian(self) -> bool:
        return self.min_lon > self.max_lon

    def envelopes(self) -> list[tuple[float, float, float, float]]:
        if self.crosses_antimeridian:
            return [
                (self.min_lon, self.min_lat, 180.0, self.max_lat),
                (-180.0, self.min_lat, self.max_lon, self.max_lat),
            ]
        return [(self.min_lon, self.min_lat, self.max_lon, self.max_lat)]


@dataclass(frozen=True)
class Near:
    lon: float
    lat: float
    radius_m: float

    def __post_init__(self) -> None:
        _finite(self.lon, "lon")
        _finite(self.lat, "lat")
        _finite(self.radius_m, "radiusMeters")
        if not -180 <= self.lon <= 180:
            raise BadInput(f"near lon must be within -180..180, got {self.lon}", field="lon")
        if not -90 <= self.lat <= 90:
            raise BadInput(f"near lat must be within -90..90, got {self.lat}", field="lat")
        if not 0 < self.radius_m <= EARTH_HALF_CIRCUMFERENCE_M:
            raise BadInput(
                f"near radiusMeters must be > 0 and at most {EARTH_HALF_CIRCUMFERENCE_M:.0f}, got {self.radius_m}",
                field="radiusMeters",
            )


@dataclass(frozen=True)
class NumberRange:
    min: float | None = None
    max: float | None = None
    name: str = "range"

    def __post_init__(self) -> None:
        for bound in (self.min, self.max):
            if bound is not None:
                _finite(bound, self.name)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise BadInput(f"{self.name} min {self.min} is above max {self.max}", field=self.name)


@dataclass(frozen=True)
class TimeRange:
    """Half-open: `start <= t < end`. Either end may be open."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def build(cls, start: datetime | None, end: datetime | None, last: str | timedelta | None) -> TimeRange:
        for name, value in (("from", start), ("to", end)):
            if value is not None and value.tzinfo is None:
                raise BadTimeRange(
                    f"time {name} must carry a time zone (e.g. 2026-01-01T00:00:00Z)", field=name
                )
            if value is not None:
                check_instant(value, name)
        if last is not None:
            if start is not None or end is not None:
                raise BadTimeRange("give either `last` or `from`/`to`, not both", field="last")
            delta = parse_duration(last) if isinstance(last, str) else last
            if delta > MAX_DURATION:
                raise BadDuration(f"`last` is longer than {MAX_DURATION.days} days", field="last")
            return cls(datetime.now(UTC) - delta, None)
        if start is not None and end is not None and start >= end:
            raise BadTimeRange(
                f"time range is empty: from {start.isoformat()} is not before to {end.isoformat()}"
            )
        return cls(start, end)

    def sql(self, column: str, params: Params) -> list[str]:
        clauses = []
        if self.start is not None:
            clauses.append(f"{column} >= {params.add(self.start)}")
        if self.end is not None:
            clauses.append(f"{column} < {params.add(self.end)}")
        return clauses


BIGINT_MAX = 2**63 - 1


def parse_bigint(value: object) -> int | None:
    """An observation/anomaly id as an int, or None when it cannot be one (not a number, out of range)."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if -BIGINT_MAX - 1 <= number <= BIGINT_MAX else None


def texts(values: Sequence[str] | None, name: str) -> list[str] | None:
    """A list of text filter values, refusing NUL characters."""
    if values is None:
        return None
    for i, v in enumerate(values):
        if has_nul(v):
            raise BadInput(f"{name}[{i}] contains a NUL character", field=name, index=i)
    return list(values)


def text(value: str | None, name: str) -> str | None:
    if value is not None and has_nul(value):
        raise BadInput(f"{name} contains a NUL character", field=name)
    return value


def parse_uuids(values: Sequence[str] | None, name: str) -> list[uuid.UUID] | None:
    if values is None:
        return None
    out = []
    for i, v in enumerate(values):
        try:
            out.append(uuid.UUID(str(v)))
        except ValueError as exc:
            raise BadInput(f"{name}[{i}] is not a UUID: {str(v)[:60]!r}", field=name, index=i) from exc
    return out


@dataclass(frozen=True)
class ObservationFilter:
    bbox: BBox | None = None
    within: BaseGeometry | None = None
    near: Near | None = None
    altitude: NumberRange | None = None
    time: TimeRange | None = None
    source_types: list[str] | None = None
    entity_ids: list[uuid.UUID] | None = None
    track_ids: list[uuid.UUID] | None = None
    kinds: list[str] | None = None
    extra: list[str] = field(default_factory=list)

    def sql(self, params: Params, alias: str = "o", *, position_fallback: bool = True) -> list[str]:
        """Predicates over `atlas4d.observations_core AS alias`: spatial ones on the position rule of
        `atlas4d.core.position` (`geom`, else `lon`/`lat`). `position_fallback=False` for tables with only
        `geom` (tracks)."""
        a = alias

        def spatial(template: str, geography: bool = False) -> str:
            return spatial_predicate(a, template, geography=geography, fallback=position_fallback)

        clauses: list[str] = []
        if self.bbox is not None:
            # ST_Intersects, not `&&`: the index boxes are float4 and rounded outwards, so `&&` alone lets in
            # points a few metres outside the box; ST_Intersects uses the index and then tests exactly.
            parts = [
                spatial(
                    f"ST_Intersects({{g}}, ST_MakeEnvelope({params.add(e[0])}, {params.add(e[1])}, "
                    f"{params.add(e[2])}, {params.add(e[3])}, 4326))"
                )
                for e in self.bbox.envelopes()
            ]
            clauses.append(parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")")
        if self.within is not None:
            clauses.append(spatial(f"ST_Intersects({{g}}, {params.add(self.within, 'geometry')})"))
        if self.near is not None:
            clauses.append(
                spatial(
                    f"ST_DWithin({{g}}, ST_SetSRID(ST_MakePoint({params.add(self.near.lon)}, "
                    f"{params.add(self.near.lat)}), 4326)::geography, {params.add(self.near.radius_m)})",
                    geography=True,
                )
            )
        if self.altitude is not None:
            if self.altitude.min is not None:
                clauses.append(f"{a}.altitude_m >= {params.add(self.altitude.min)}")
            if self.altitude.max is not None:
                clauses.append(f"{a}.altitude_m <= {params.add(self.altitude.max)}")
        if self.time is not None:
            clauses.extend(self.time.sql(f"{a}.t", params))
        if self.source_types is not None:
            clauses.append(f"{a}.source_type = ANY({params.add(self.source_types, 'text[]')})")
        if self.entity_ids is not None:
            clauses.append(f"{a}.entity_id = ANY({params.add(self.entity_ids, 'uuid[]')})")
        if self.track_ids is not None:
            clauses.append(f"{a}.track_id = ANY({params.add(self.track_ids, 'uuid[]')})")
        if self.kinds is not None:
            clauses.append(
                f"{a}.entity_id IN (SELECT id FROM atlas4d.entities WHERE kind = ANY({params.add(self.kinds, 'text[]')}))"
            )
        return clauses + self.extra


def where(clauses: list[str]) -> str:
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""


@dataclass(frozen=True)
class EntityPredicates:
    """Entity list predicates (`EntityFilter.to_domain()`), over `atlas4d.entities AS e`."""

    ids: list[uuid.UUID] | None = None
    kinds: list[str] | None = None
    source_types: list[str] | None = None
    name_contains: str | None = None
    observed: ObservationFilter | None = None

    def sql(self, params: Params) -> list[str]:
        clauses = []
        if self.ids is not None:
            clauses.append(f"e.id = ANY({params.add(self.ids, 'uuid[]')})")
        if self.kinds is not None:
            clauses.append(f"e.kind = ANY({params.add(self.kinds, 'text[]')})")
        if self.source_types is not None:
            clauses.append(f"e.source_type = ANY({params.add(self.source_types, 'text[]')})")
        if self.name_contains:
            escaped = self.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(f"e.name ILIKE {params.add('%' + escaped + '%')}")
        if self.observed is not None:
            inner = self.observed.sql(params)
            clauses.append(
                "e.id IN (SELECT o.entity_id FROM atlas4d.observations_core o "
                f"{where([*inner, 'o.entity_id IS NOT NULL'])})"
            )
        return clauses
