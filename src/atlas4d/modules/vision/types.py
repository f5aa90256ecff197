"""Object types of the vision subgraph. Core's Entity and Track are extended by key (Federation 2):
this subgraph resolves only their `id` and the fields it adds; the gateway fetches the rest from core."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

import asyncpg
import strawberry

from atlas4d.core.context import Info
from atlas4d.core.schema.inputs import TimeFilter
from atlas4d.core.schema.scalars import GeoJSON
from atlas4d.core.schema.types import parse_uuid
from atlas4d.modules.vision.inputs import detection_args
from atlas4d.modules.vision.loaders import VisionLoaders

MODULE_NAME = "vision"


def loaders(info: Info) -> VisionLoaders:
    return cast(VisionLoaders, info.context.module_loaders(MODULE_NAME))


async def _detections(
    info: Info,
    column: str,
    key: str,
    time: TimeFilter | None,
    classes: list[str] | None,
    min_confidence: float | None,
    first: int | None,
) -> list[Detection]:
    args = detection_args(time, classes, min_confidence, first)
    parsed = parse_uuid(key)
    if parsed is None:
        return []
    return [Detection.from_row(r) for r in await loaders(info).detections_by(column, args).load(parsed)]


@strawberry.federation.type(keys=["id"])
class Entity:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Entity:
        return cls(id=id)

    @strawberry.field(description="The camera this entity is, or null when it is not one.")
    async def camera(self, info: Info) -> Camera | None:
        key = parse_uuid(self.id)
        row = await loaders(info).camera().load(key) if key else None
        return Camera.from_row(row) if row else None

    @strawberry.field(description="Detections linked to this (tracked) entity, newest first.")
    async def detections(
        self,
        info: Info,
        time: TimeFilter | None = None,
        classes: list[str] | None = None,
        min_confidence: float | None = None,
        first: int | None = None,
    ) -> list[Detection]:
        return await _detections(info, "entity_id", self.id, time, classes, min_confidence, first)


@strawberry.federation.type(keys=["id"])
class Track:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Track:
        return cls(id=id)

    @strawberry.field(description="Detections linked to this track, newest first.")
    async def detections(
        self,
        info: Info,
        time: TimeFilter | None = None,
        classes: list[str] | None = None,
        min_confidence: float | None = None,
        first: int | None = None,
    ) -> list[Detection]:
        return await _detections(info, "track_id", self.id, time, classes, min_confidence, first)


@strawberry.type(description="A fixed camera: a core entity (kind 'camera') with where and how far it sees.")
class Camera:
    entity_id: strawberry.ID
    name: str | None
    lon: float
    lat: float
    heading: float = strawberry.field(
        description="Direction of the optical axis, degrees clockwise from north."
    )
    field_of_view: float = strawberry.field(description="Horizontal field of view, degrees.")
    range: float = strawberry.field(description="Farthest distance detections are made at, metres.")
    coverage: GeoJSON = strawberry.field(
        description="The ground footprint it sees: a GeoJSON Polygon (a sector of `range` and `fieldOfView`)."
    )

    @strawberry.field(description="The camera's entity id (a camera is one entity): its cache key.")
    def id(self) -> strawberry.ID:
        return self.entity_id

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Camera:
        return cls(
            entity_id=strawberry.ID(str(r["entity_id"])),
            name=r["name"],
            lon=r["lon"],
            lat=r["lat"],
            heading=r["heading_deg"],
            field_of_view=r["fov_deg"],
            range=r["range_m"],
            coverage=GeoJSON(r["coverage"]),
        )

    @strawberry.field(description="The core entity (its observations and properties).")
    def entity(self) -> Entity:
        return Entity(id=self.entity_id)

    @strawberry.field(description="This camera's detections, newest first.")
    async def detections(
        self,
        info: Info,
        time: TimeFilter | None = None,
        classes: list[str] | None = None,
        min_confidence: float | None = None,
        first: int | None = None,
    ) -> list[Detection]:
        return await _detections(info, "camera_id", self.entity_id, time, classes, min_confidence, first)


@strawberry.type(
    description="Where a detection sits in the image, normalised to the frame (0..1, origin top-left)."
)
class ImageBox:
    x: float
    y: float
    width: float
    height: float


@strawberry.type(
    description="Something a camera saw at a time, with where on the ground it is estimated to be."
)
class Detection:
    id: strawberry.ID
    camera_id: strawberry.ID
    time: datetime
    class_: str = strawberry.field(
        name="class", description="What was seen: car, bus, truck, van, person, ..."
    )
    confidence: float = strawberry.field(description="0..1.")
    box: ImageBox
    lon: float | None = strawberry.field(description="Estimated ground position (null when unknown).")
    lat: float | None
    track_id: strawberry.ID | None = strawberry.field(description="The core track it is linked to.")
    entity_id: strawberry.ID | None = strawberry.field(description="The core entity of that track.")
    link_distance: float | None = strawberry.field(
        description="Metres between the ground position and the linked track's interpolated position."
    )

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Detection:
        track, entity = r["track_id"], r["entity_id"]
        return cls(
            id=strawberry.ID(str(r["id"])),
            camera_id=strawberry.ID(str(r["camera_id"])),
            time=r["t"],
            class_=r["class"],
            confidence=r["confidence"],
            box=ImageBox(x=r["box_x"], y=r["box_y"], width=r["box_w"], height=r["box_h"]),
            lon=r["lon"],
            lat=r["lat"],
            track_id=strawberry.ID(str(track)) if track else None,
            entity_id=strawberry.ID(str(entity)) if entity else None,
            link_distance=r["link_distance_m"],
        )

    @strawberry.field(description="The estimated ground position as a GeoJSON Point.")
    def position(self) -> GeoJSON | None:
        if self.lon is None or self.lat is None:
            return None
        return GeoJSON({"type": "Point", "coordinates": [self.lon, self.lat]})

    @strawberry.field
    async def camera(self, info: Info) -> Camera | None:
        row = await loaders(info).camera().load(uuid.UUID(self.camera_id))
        return Camera.from_row(row) if row else None

    @strawberry.field(description="The linked core track (resolved by core through the gateway).")
    def track(self) -> Track | None:
        return Track(id=self.track_id) if self.track_id else None

    @strawberry.field(description="The linked core entity (resolved by core through the gateway).")
    def entity(self) -> Entity | None:
        return Entity(id=self.entity_id) if self.entity_id else None
