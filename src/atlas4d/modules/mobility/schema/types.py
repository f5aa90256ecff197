"""Object types of the mobility subgraph, and the core entities it extends by key.

`Entity`, `Track` and `Observation` are core's entities: this subgraph knows only their `id` and adds
fields to the first two (`Entity.vehicle`, `Track.trip`). Nested fields load through the request's
`MobilityLoaders`, one statement per batch.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import Enum
from typing import cast

import asyncpg
import strawberry

from atlas4d.core.context import Info
from atlas4d.core.queries import page_size
from atlas4d.core.schema.inputs import TimeFilter
from atlas4d.core.schema.scalars import Duration, GeoJSON
from atlas4d.modules.mobility.loaders import MobilityLoaders, TripArgs


def loaders(info: Info) -> MobilityLoaders:
    return cast(MobilityLoaders, info.context.module_loaders("mobility"))


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def point(lon: float, lat: float) -> GeoJSON:
    return GeoJSON({"type": "Point", "coordinates": [lon, lat]})


@strawberry.enum(description="What sort of vehicle an entity is.")
class VehicleKind(Enum):
    CAR = "car"
    BUS = "bus"
    TRUCK = "truck"
    TAXI = "taxi"


@strawberry.federation.type(keys=["id"])
class Entity:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Entity:
        return cls(id=id)

    @strawberry.field(description="The vehicle this entity is; null when it is not a known vehicle.")
    async def vehicle(self, info: Info) -> Vehicle | None:
        key = as_uuid(self.id)
        row = await loaders(info).vehicle().load(key) if key else None
        return Vehicle.from_row(row) if row else None


@strawberry.federation.type(keys=["id"])
class Track:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Track:
        return cls(id=id)

    @strawberry.field(description="The trip this track was; null when no vehicle drove it.")
    async def trip(self, info: Info) -> Trip | None:
        key = as_uuid(self.id)
        row = await loaders(info).trip().load(key) if key else None
        return Trip.from_row(row) if row else None


@strawberry.federation.type(keys=["id"])
class Observation:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Observation:
        return cls(id=id)


@strawberry.type(description="The mobility details of a core entity that is a vehicle.")
class Vehicle:
    id: strawberry.ID = strawberry.field(description="The entity's id.")
    kind: VehicleKind
    label: str = strawberry.field(description="What people call it: a plate, a fleet or line number.")
    capacity: int = strawberry.field(description="Passenger places (payload places for trucks).")

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Vehicle:
        return cls(
            id=strawberry.ID(str(r["entity_id"])),
            kind=VehicleKind(r["kind"]),
            label=r["label"],
            capacity=r["capacity"],
        )

    @strawberry.field(description="The core entity (its observations, tracks, latest position).")
    def entity(self) -> Entity:
        return Entity(id=self.id)

    @strawberry.field(description="Trips overlapping `time`, newest first.")
    async def trips(self, info: Info, time: TimeFilter | None = None, first: int | None = None) -> list[Trip]:
        s = info.context.settings
        args = TripArgs(
            time.to_domain() if time else None, page_size(first, s.default_page_size, s.max_page_size)
        )
        rows = await loaders(info).vehicle_trips(args).load(uuid.UUID(self.id))
        return [Trip.from_row(r) for r in rows]


@strawberry.type(description="A named place where trips start and end.")
class Stop:
    id: strawberry.ID
    name: str
    lon: float
    lat: float

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Stop:
        return cls(id=strawberry.ID(str(r["id"])), name=r["name"], lon=r["lon"], lat=r["lat"])

    @strawberry.field(description="A GeoJSON Point.")
    def geometry(self) -> GeoJSON:
        return point(self.lon, self.lat)


@strawberry.type(description="A core track driven by a vehicle, between the stops nearest its ends.")
class Trip:
    id: strawberry.ID = strawberry.field(description="The track's id.")
    start_time: datetime
    end_time: datetime
    distance_meters: float = strawberry.field(description="The track's geodesic length.")
    vehicle_id: strawberry.Private[uuid.UUID]
    start_stop_id: strawberry.Private[uuid.UUID | None]
    end_stop_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Trip:
        return cls(
            id=strawberry.ID(str(r["track_id"])),
            start_time=r["start_time"],
            end_time=r["end_time"],
            distance_meters=r["distance_m"],
            vehicle_id=r["vehicle_id"],
            start_stop_id=r["start_stop_id"],
            end_stop_id=r["end_stop_id"],
        )

    @strawberry.field
    def duration(self) -> Duration:
        return Duration(self.end_time - self.start_time)

    @strawberry.field(description="Distance over duration; null for a trip of one instant.")
    def average_speed_kmh(self) -> float | None:
        seconds = (self.end_time - self.start_time) / timedelta(seconds=1)
        return self.distance_meters / seconds * 3.6 if seconds > 0 else None

    @strawberry.field(description="The core track (its observations, geometry, positionAt).")
    def track(self) -> Track:
        return Track(id=self.id)

    @strawberry.field
    async def vehicle(self, info: Info) -> Vehicle | None:
        row = await loaders(info).vehicle().load(self.vehicle_id)
        return Vehicle.from_row(row) if row else None

    @strawberry.field(description="The stop nearest the track's first point, if one is close enough.")
    async def start_stop(self, info: Info) -> Stop | None:
        if self.start_stop_id is None:
            return None
        row = await loaders(info).stop().load(self.start_stop_id)
        return Stop.from_row(row) if row else None

    @strawberry.field(description="The stop nearest the track's last point, if one is close enough.")
    async def end_stop(self, info: Info) -> Stop | None:
        if self.end_stop_id is None:
            return None
        row = await loaders(info).stop().load(self.end_stop_id)
        return Stop.from_row(row) if row else None


@strawberry.type(description="A zone with a speed limit.")
class Geofence:
    id: strawberry.ID
    name: str
    speed_limit_kmh: float
    geometry: GeoJSON = strawberry.field(description="A GeoJSON Polygon.")

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Geofence:
        return cls(
            id=strawberry.ID(str(r["id"])),
            name=r["name"],
            speed_limit_kmh=r["speed_limit_kmh"],
            geometry=GeoJSON(r["geometry"]),
        )


@strawberry.type(description="An observation faster than the limit of a geofence it lies in.")
class SpeedingEvent:
    time: datetime
    lon: float
    lat: float
    speed_kmh: float
    limit_kmh: float
    observation_id: strawberry.Private[int]
    entity_id: strawberry.Private[uuid.UUID | None]
    geofence_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="`<observation id>:<geofence id>`: one event per observation and geofence.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(f"{self.observation_id}:{self.geofence_id}")

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> SpeedingEvent:
        return cls(
            time=r["t"],
            lon=r["lon"],
            lat=r["lat"],
            speed_kmh=r["speed_kmh"],
            limit_kmh=r["speed_limit_kmh"],
            observation_id=r["observation_id"],
            entity_id=r["entity_id"],
            geofence_id=r["geofence_id"],
        )

    @strawberry.field
    def excess_kmh(self) -> float:
        return self.speed_kmh - self.limit_kmh

    @strawberry.field
    def observation(self) -> Observation:
        return Observation(id=strawberry.ID(str(self.observation_id)))

    @strawberry.field
    def entity(self) -> Entity | None:
        return Entity(id=strawberry.ID(str(self.entity_id))) if self.entity_id else None

    @strawberry.field
    async def vehicle(self, info: Info) -> Vehicle | None:
        if self.entity_id is None:
            return None
        row = await loaders(info).vehicle().load(self.entity_id)
        return Vehicle.from_row(row) if row else None

    @strawberry.field
    async def geofence(self, info: Info) -> Geofence | None:
        row = await loaders(info).geofence().load(self.geofence_id)
        return Geofence.from_row(row) if row else None


@strawberry.type(description="An entity staying within `radiusMeters` of one place for `minMinutes` or more.")
class DwellEvent:
    start_time: datetime = strawberry.field(description="Time of the stay's first observation.")
    end_time: datetime = strawberry.field(description="Time of the stay's last observation.")
    lon: float = strawberry.field(description="Where the stay started (its anchor observation).")
    lat: float
    point_count: int = strawberry.field(description="Observations during the stay.")
    entity_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> DwellEvent:
        return cls(
            start_time=r["start_time"],
            end_time=r["end_time"],
            lon=r["lon"],
            lat=r["lat"],
            point_count=r["point_count"],
            entity_id=r["entity_id"],
        )

    @strawberry.field
    def duration(self) -> Duration:
        return Duration(self.end_time - self.start_time)

    @strawberry.field
    def entity(self) -> Entity:
        return Entity(id=strawberry.ID(str(self.entity_id)))

    @strawberry.field
    async def vehicle(self, info: Info) -> Vehicle | None:
        row = await loaders(info).vehicle().load(self.entity_id)
        return Vehicle.from_row(row) if row else None


@strawberry.enum(description="What an observation did relative to a geofence.")
class GeofenceEventKind(Enum):
    ENTERED = strawberry.enum_value(
        "ENTERED",
        description="In the geofence; the entity's previous observation was not (or there was none).",
    )
    LEFT = strawberry.enum_value("LEFT", description="Out of the geofence; the previous observation was in.")
    SPEEDING = strawberry.enum_value(
        "SPEEDING", description="In the geofence faster than its limit (a speedingEvents row)."
    )


@strawberry.type(
    description="A live geofence event: one new observation against one geofence (entering and leaving are "
    "judged against the same entity's previous observation)."
)
class GeofenceEvent:
    kind: GeofenceEventKind
    geofence_id: strawberry.ID
    entity_id: strawberry.ID | None = strawberry.field(description="Null for an observation of no entity.")
    observation_id: strawberry.ID = strawberry.field(
        description="The new observation (core `Observation.id`)."
    )
    previous_observation_id: strawberry.ID | None = strawberry.field(
        description="The entity's previous observation it was compared with; null for none."
    )
    time: datetime
    lon: float
    lat: float
    speed_kmh: float | None = strawberry.field(description="Null when the observation has no speed.")
    limit_kmh: float

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> GeofenceEvent:
        entity, previous = r["entity_id"], r["previous_observation_id"]
        return cls(
            kind=GeofenceEventKind(r["event"]),
            geofence_id=strawberry.ID(str(r["geofence_id"])),
            entity_id=strawberry.ID(str(entity)) if entity is not None else None,
            observation_id=strawberry.ID(str(r["observation_id"])),
            previous_observation_id=strawberry.ID(str(previous)) if previous is not None else None,
            time=r["t"],
            lon=r["lon"],
            lat=r["lat"],
            speed_kmh=r["speed_kmh"],
            limit_kmh=r["speed_limit_kmh"],
        )

    @strawberry.field(description="`<observation id>:<geofence id>:<kind>`, stable.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(f"{self.observation_id}:{self.geofence_id}:{self.kind.name}")

    @strawberry.field
    async def geofence(self, info: Info) -> Geofence | None:
        row = await loaders(info).geofence().load(uuid.UUID(self.geofence_id))
        return Geofence.from_row(row) if row else None

    @strawberry.field
    def observation(self) -> Observation:
        return Observation(id=self.observation_id)

    @strawberry.field
    def entity(self) -> Entity | None:
        return Entity(id=self.entity_id) if self.entity_id is not None else None

    @strawberry.field
    async def vehicle(self, info: Info) -> Vehicle | None:
        if self.entity_id is None:
            return None
        row = await loaders(info).vehicle().load(uuid.UUID(self.entity_id))
        return Vehicle.from_row(row) if row else None
