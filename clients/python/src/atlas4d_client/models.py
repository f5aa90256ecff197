"""Typed results: frozen dataclasses built from the API's JSON, with times as aware `datetime`s and durations
as `timedelta`s. Everything with a place has `__geo_interface__` (a GeoJSON Feature), so shapely
(`shapely.geometry.shape(obs.geometry)`), GeoPandas (`GeoDataFrame.from_features(items)`) and our own
`atlas4d_client.geo` helpers take the objects as they are.

The GraphQL selections that fill these classes are next to them (`*_FIELDS`), so a field added here is
added to what the client asks for in the same edit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from atlas4d_client.filters import parse_duration

T = TypeVar("T")

OBSERVATION_FIELDS = "id time lon lat altitude speed heading sourceType entityId trackId metadata"
ENTITY_FIELDS = "id kind name sourceType properties createdAt"
TRACK_FIELDS = "id entityId sourceType startTime endTime duration pointCount lengthMeters"
ANOMALY_FIELDS = "id observationId anomalyType severity score detectedAt metadata"
BUCKET_FIELDS = "start end count avgSpeed minAltitude maxAltitude entityCount"
CELL_FIELDS = "cell count avgSpeed center { lon lat altitude } geometry"


def parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _opt_time(value: str | None) -> datetime | None:
    return None if value is None else parse_datetime(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Position:
    lon: float
    lat: float
    altitude: float | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Position:
        return cls(float(raw["lon"]), float(raw["lat"]), _opt_float(raw.get("altitude")))

    @property
    def geometry(self) -> dict[str, Any]:
        coords = [self.lon, self.lat] if self.altitude is None else [self.lon, self.lat, self.altitude]
        return {"type": "Point", "coordinates": coords}

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        return self.geometry


@dataclass(frozen=True)
class Observation:
    id: str
    time: datetime
    lon: float | None
    lat: float | None
    altitude: float | None
    speed: float | None
    heading: float | None
    source_type: str | None
    entity_id: str | None
    track_id: str | None
    metadata: Any

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Observation:
        return cls(
            id=str(raw["id"]),
            time=parse_datetime(raw["time"]),
            lon=_opt_float(raw.get("lon")),
            lat=_opt_float(raw.get("lat")),
            altitude=_opt_float(raw.get("altitude")),
            speed=_opt_float(raw.get("speed")),
            heading=_opt_float(raw.get("heading")),
            source_type=raw.get("sourceType"),
            entity_id=raw.get("entityId"),
            track_id=raw.get("trackId"),
            metadata=raw.get("metadata"),
        )

    @property
    def geometry(self) -> dict[str, Any] | None:
        """A GeoJSON Point (altitude as third coordinate when known), None without a position."""
        if self.lon is None or self.lat is None:
            return None
        return Position(self.lon, self.lat, self.altitude).geometry

    @property
    def properties(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "entityId": self.entity_id,
            "trackId": self.track_id,
            "sourceType": self.source_type,
            "altitude": self.altitude,
            "speed": self.speed,
            "heading": self.heading,
        }

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        return {"type": "Feature", "id": self.id, "geometry": self.geometry, "properties": self.properties}


@dataclass(frozen=True)
class Entity:
    id: str
    kind: str
    name: str | None
    source_type: str | None
    properties: Mapping[str, Any]
    created_at: datetime
    latest_observation: Observation | None = None
    """Filled when asked for (`with_latest=True`)."""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Entity:
        latest = raw.get("latestObservation")
        return cls(
            id=str(raw["id"]),
            kind=raw["kind"],
            name=raw.get("name"),
            source_type=raw.get("sourceType"),
            properties=raw.get("properties") or {},
            created_at=parse_datetime(raw["createdAt"]),
            latest_observation=Observation.from_json(latest) if latest else None,
        )

    @property
    def geometry(self) -> dict[str, Any] | None:
        """Where it was last seen (when `latest_observation` was asked for)."""
        return self.latest_observation.geometry if self.latest_observation else None

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        props = {"kind": self.kind, "name": self.name, "sourceType": self.source_type, **self.properties}
        return {"type": "Feature", "id": self.id, "geometry": self.geometry, "properties": props}


@dataclass(frozen=True)
class Track:
    id: str
    entity_id: str | None
    source_type: str | None
    start_time: datetime
    end_time: datetime
    duration: timedelta
    point_count: int
    length_meters: float
    geometry: dict[str, Any] | None = None
    """The line as GeoJSON, when asked for (`with_geometry=True`)."""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Track:
        return cls(
            id=str(raw["id"]),
            entity_id=raw.get("entityId"),
            source_type=raw.get("sourceType"),
            start_time=parse_datetime(raw["startTime"]),
            end_time=parse_datetime(raw["endTime"]),
            duration=parse_duration(raw["duration"]),
            point_count=int(raw["pointCount"]),
            length_meters=float(raw["lengthMeters"]),
            geometry=raw.get("geometry"),
        )

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        props = {
            "entityId": self.entity_id,
            "sourceType": self.source_type,
            "startTime": self.start_time.isoformat(),
            "endTime": self.end_time.isoformat(),
            "pointCount": self.point_count,
            "lengthMeters": self.length_meters,
        }
        return {"type": "Feature", "id": self.id, "geometry": self.geometry, "properties": props}


@dataclass(frozen=True)
class Anomaly:
    id: str
    observation_id: str | None
    anomaly_type: str | None
    severity: int | None
    score: float | None
    detected_at: datetime | None
    metadata: Any

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Anomaly:
        obs = raw.get("observationId")
        return cls(
            id=str(raw["id"]),
            observation_id=None if obs is None else str(obs),
            anomaly_type=raw.get("anomalyType"),
            severity=raw.get("severity"),
            score=_opt_float(raw.get("score")),
            detected_at=_opt_time(raw.get("detectedAt")),
            metadata=raw.get("metadata"),
        )


@dataclass(frozen=True)
class ObservationBucket:
    start: datetime
    end: datetime
    count: int
    avg_speed: float | None
    min_altitude: float | None
    max_altitude: float | None
    entity_count: int

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ObservationBucket:
        return cls(
            start=parse_datetime(raw["start"]),
            end=parse_datetime(raw["end"]),
            count=int(raw["count"]),
            avg_speed=_opt_float(raw.get("avgSpeed")),
            min_altitude=_opt_float(raw.get("minAltitude")),
            max_altitude=_opt_float(raw.get("maxAltitude")),
            entity_count=int(raw["entityCount"]),
        )


@dataclass(frozen=True)
class GridCell:
    cell: str
    count: int
    avg_speed: float | None
    center: Position
    geometry: dict[str, Any]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> GridCell:
        return cls(
            cell=raw["cell"],
            count=int(raw["count"]),
            avg_speed=_opt_float(raw.get("avgSpeed")),
            center=Position.from_json(raw["center"]),
            geometry=raw["geometry"],
        )

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        props = {"cell": self.cell, "count": self.count, "avgSpeed": self.avg_speed}
        return {"type": "Feature", "id": self.cell, "geometry": self.geometry, "properties": props}


@dataclass(frozen=True)
class IngestResult:
    accepted: int = 0
    entities_created: int = 0
    tracks_updated: int = 0
    batches: int = 0
    """How many requests it took (the ingest helper splits large inputs)."""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> IngestResult:
        return cls(int(raw["accepted"]), int(raw["entitiesCreated"]), int(raw["tracksUpdated"]), 1)

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            self.accepted + other.accepted,
            self.entities_created + other.entities_created,
            self.tracks_updated + other.tracks_updated,
            self.batches + other.batches,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a connection: `items`, and what is needed to read the next (`end_cursor` as `after`)."""

    items: Sequence[T]
    has_next_page: bool
    end_cursor: str | None
    total_count: int | None = None
    """Only when asked for (`total=True`): one extra COUNT on the server."""

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
