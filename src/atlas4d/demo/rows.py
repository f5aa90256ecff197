"""Rows the generators produce, in the column order of the COPY statements that load them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atlas4d.core.ingest import ewkb_point  # the pool's geometry codec passes EWKB bytes through

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "atlas4d:demo")

OBSERVATION_COLUMNS = (
    "id", "t", "geom", "source_type", "track_id", "entity_id", "lat", "lon", "altitude_m", "speed_ms",
    "heading_deg", "metadata",
)  # fmt: skip
ENTITY_COLUMNS = ("id", "kind", "name", "source_type", "properties", "created_at")
ANOMALY_COLUMNS = ("observation_id", "anomaly_type", "severity", "score", "detected_at", "metadata")


def demo_id(*parts: object) -> uuid.UUID:
    """A stable id for a generated thing, so a reload replaces rather than duplicates."""
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


@dataclass(frozen=True)
class Entity:
    id: uuid.UUID
    kind: str
    name: str
    source_type: str
    properties: dict[str, Any]

    def record(self, created_at: datetime) -> tuple[Any, ...]:
        return (self.id, self.kind, self.name, self.source_type, self.properties, created_at)


@dataclass(frozen=True)
class Observation:
    t: datetime
    lon: float
    lat: float
    source_type: str
    entity_id: uuid.UUID
    track_id: uuid.UUID | None
    altitude_m: float | None
    speed_ms: float | None
    heading_deg: float | None
    metadata: dict[str, Any]

    def record(self, observation_id: int) -> tuple[Any, ...]:
        return (
            observation_id, self.t, ewkb_point(self.lon, self.lat), self.source_type, self.track_id,
            self.entity_id, self.lat, self.lon, self.altitude_m, self.speed_ms, self.heading_deg, self.metadata,
        )  # fmt: skip


@dataclass(frozen=True)
class Anomaly:
    """An anomaly on the observation at `observation_index` of the scenario's observation list."""

    observation_index: int
    anomaly_type: str
    severity: int
    score: float
    detected_at: datetime
    metadata: dict[str, Any]

    def record(self, observation_id: int) -> tuple[Any, ...]:
        return (observation_id, self.anomaly_type, self.severity, self.score, self.detected_at, self.metadata)
