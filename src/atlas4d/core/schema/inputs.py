"""Filter and mutation inputs, and their conversion into the validated domain filters of core.filters."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from atlas4d.core import filters as f
from atlas4d.core.schema.scalars import Duration, GeoJSON


@strawberry.enum(description="Order of time-ordered lists.")
class TimeOrder(Enum):
    TIME_ASC = "asc"
    TIME_DESC = "desc"


@strawberry.input(
    description="A lon/lat box in WGS 84. minLon > maxLon means the box crosses the antimeridian."
)
class BBoxInput:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def to_domain(self) -> f.BBox:
        return f.BBox(self.min_lon, self.min_lat, self.max_lon, self.max_lat)


@strawberry.input(description="Within `radiusMeters` of a point, measured on the WGS 84 spheroid.")
class NearInput:
    lon: float
    lat: float
    radius_meters: float

    def to_domain(self) -> f.Near:
        return f.Near(self.lon, self.lat, self.radius_meters)


@strawberry.input(description="An inclusive range; either end may be omitted.")
class RangeInput:
    min: float | None = None
    max: float | None = None

    def to_domain(self, name: str) -> f.NumberRange:
        return f.NumberRange(self.min, self.max, name)


@strawberry.input(
    description="A half-open time window `from <= t < to` (either end may be omitted), or the `last` duration."
)
class TimeFilter:
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None
    last: Duration | None = None

    def to_domain(self) -> f.TimeRange:
        return f.TimeRange.build(self.from_, self.to, self.last)


@strawberry.input(description="Observation predicates; all given ones must hold.")
class ObservationFilter:
    bbox: BBoxInput | None = None
    within: GeoJSON | None = strawberry.field(default=None, description="A GeoJSON Polygon or MultiPolygon.")
    near: NearInput | None = None
    altitude: RangeInput | None = strawberry.field(default=None, description="Metres, inclusive.")
    time: TimeFilter | None = None
    source_types: list[str] | None = None
    entity_ids: list[strawberry.ID] | None = None
    track_ids: list[strawberry.ID] | None = None
    kinds: list[str] | None = strawberry.field(default=None, description="Kinds of the observed entity.")

    def to_domain(self) -> f.ObservationFilter:
        return f.ObservationFilter(
            bbox=self.bbox.to_domain() if self.bbox else None,
            within=f.parse_area(self.within) if self.within is not None else None,
            near=self.near.to_domain() if self.near else None,
            altitude=self.altitude.to_domain("altitude") if self.altitude else None,
            time=self.time.to_domain() if self.time else None,
            source_types=f.texts(self.source_types, "sourceTypes"),
            entity_ids=f.parse_uuids(self.entity_ids, "entityIds"),
            track_ids=f.parse_uuids(self.track_ids, "trackIds"),
            kinds=f.texts(self.kinds, "kinds"),
        )


def observation_filter(value: ObservationFilter | None) -> f.ObservationFilter:
    return value.to_domain() if value is not None else f.ObservationFilter()


@strawberry.input(description="Entity predicates; all given ones must hold.")
class EntityFilter:
    ids: list[strawberry.ID] | None = None
    kinds: list[str] | None = None
    source_types: list[str] | None = None
    name_contains: str | None = strawberry.field(default=None, description="Case-insensitive substring.")
    observations: ObservationFilter | None = strawberry.field(
        default=None, description="Only entities with at least one observation matching this filter."
    )

    def to_domain(self) -> f.EntityPredicates:
        return f.EntityPredicates(
            ids=f.parse_uuids(self.ids, "ids"),
            kinds=f.texts(self.kinds, "kinds"),
            source_types=f.texts(self.source_types, "sourceTypes"),
            name_contains=f.text(self.name_contains, "nameContains"),
            observed=self.observations.to_domain() if self.observations else None,
        )


@strawberry.input(description="Track predicates; spatial ones test the track's line, `time` its time span.")
class TrackFilter:
    ids: list[strawberry.ID] | None = None
    entity_ids: list[strawberry.ID] | None = None
    source_types: list[str] | None = None
    kinds: list[str] | None = None
    bbox: BBoxInput | None = None
    within: GeoJSON | None = None
    near: NearInput | None = None
    time: TimeFilter | None = strawberry.field(default=None, description="Tracks whose span overlaps it.")
    min_length_meters: float | None = None


@strawberry.input(description="Anomaly predicates; all given ones must hold.")
class AnomalyFilter:
    types: list[str] | None = None
    min_severity: int | None = None
    min_score: float | None = None
    time: TimeFilter | None = strawberry.field(default=None, description="On `detectedAt`.")
    observation_ids: list[strawberry.ID] | None = None
    observations: ObservationFilter | None = strawberry.field(
        default=None, description="Only anomalies whose observation matches this filter."
    )


@strawberry.enum
class ConflictPolicy(Enum):
    ERROR = "error"
    SKIP = "skip"
    UPDATE = "update"


@strawberry.input(description="An entity to create; `id` is generated when omitted.")
class EntityInput:
    kind: str
    id: strawberry.ID | None = None
    name: str | None = None
    source_type: str | None = None
    properties: JSON | None = None


@strawberry.input(
    description=(
        "One observation. `time` must carry a zone. An unknown `entityId` creates the entity on the fly "
        "(kind `entityKind`, default 'unknown') unless autoCreateEntities is false."
    )
)
class ObservationInput:
    time: datetime
    lon: float
    lat: float
    altitude: float | None = None
    speed: float | None = strawberry.field(default=None, description="Metres per second, >= 0.")
    heading: float | None = strawberry.field(
        default=None, description="Degrees clockwise from north, 0..360."
    )
    source_type: str | None = None
    entity_id: strawberry.ID | None = None
    entity_kind: str | None = None
    track_id: strawberry.ID | None = None
    metadata: JSON | None = None


@strawberry.input(description="An anomaly attached to an observation.")
class AnomalyInput:
    observation_id: strawberry.ID
    anomaly_type: str
    severity: int = strawberry.field(description="1 (info) .. 5 (critical).")
    score: float = strawberry.field(description="0..1.")
    detected_at: datetime | None = None
    metadata: JSON | None = None
