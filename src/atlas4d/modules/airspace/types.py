"""Object types of the airspace subgraph. Core's Entity and Track are extended by key (Federation 2):
this subgraph resolves only their `id` and the fields it adds; the gateway fetches the rest from core."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import cast

import asyncpg
import strawberry

from atlas4d.core.context import Info
from atlas4d.core.schema.inputs import TimeFilter
from atlas4d.core.schema.scalars import GeoJSON
from atlas4d.core.schema.types import parse_uuid
from atlas4d.modules.airspace.loaders import AirspaceLoaders

MODULE_NAME = "airspace"


def loaders(info: Info) -> AirspaceLoaders:
    return cast(AirspaceLoaders, info.context.module_loaders(MODULE_NAME))


@strawberry.federation.type(keys=["id"])
class Entity:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Entity:
        return cls(id=id)

    @strawberry.field(description="The aircraft this entity is, or null when it is not one.")
    async def aircraft(self, info: Info) -> Aircraft | None:
        key = parse_uuid(self.id)
        row = await loaders(info).aircraft().load(key) if key else None
        return Aircraft.from_row(row) if row else None


@strawberry.federation.type(keys=["id"])
class Track:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Track:
        return cls(id=id)

    @strawberry.field(description="Restricted zones this track entered, in order of entry.")
    async def violations(self, info: Info, time: TimeFilter | None = None) -> list[ZoneViolation]:
        key = parse_uuid(self.id)
        if key is None:
            return []
        rows = await loaders(info).violations_by("track_id", time.to_domain() if time else None).load(key)
        return [ZoneViolation.from_row(r) for r in rows]


@strawberry.type(description="An aircraft: a core entity (kind 'aircraft') with its transponder identity.")
class Aircraft:
    entity_id: strawberry.ID
    icao24: str = strawberry.field(description="ICAO 24-bit address, 6 lower-case hex digits.")
    callsign: str | None
    type_code: str | None = strawberry.field(description="ICAO aircraft type designator, e.g. A320.")
    registration: str | None

    @strawberry.field(description="The aircraft's entity id (an aircraft is one entity): its cache key.")
    def id(self) -> strawberry.ID:
        return self.entity_id

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Aircraft:
        return cls(
            entity_id=strawberry.ID(str(r["entity_id"])),
            icao24=r["icao24"],
            callsign=r["callsign"],
            type_code=r["type_code"],
            registration=r["registration"],
        )

    @strawberry.field(description="The core entity (its observations, tracks and latest position).")
    def entity(self) -> Entity:
        return Entity(id=self.entity_id)

    @strawberry.field(
        description="This aircraft's flights: its core tracks overlapping `time`, oldest first."
    )
    async def flights(self, info: Info, time: TimeFilter | None = None) -> list[Track]:
        rows = await loaders(info).flights(time.to_domain() if time else None).load(uuid.UUID(self.entity_id))
        return [Track(id=strawberry.ID(str(r["id"]))) for r in rows]

    @strawberry.field(description="Zone violations of all this aircraft's tracks, in order of entry.")
    async def violations(self, info: Info, time: TimeFilter | None = None) -> list[ZoneViolation]:
        rows = (
            await loaders(info)
            .violations_by("entity_id", time.to_domain() if time else None)
            .load(uuid.UUID(self.entity_id))
        )
        return [ZoneViolation.from_row(r) for r in rows]


@strawberry.federation.type(
    keys=["id"],
    description="A 3D volume of airspace (polygon between floor and ceiling) active in a time window.",
)
class RestrictedZone:
    id: strawberry.ID
    name: str
    kind: str = strawberry.field(description="airport_ctr, military, restricted, temporary, ...")
    floor: float = strawberry.field(description="Lowest altitude of the volume, metres (inclusive).")
    ceiling: float = strawberry.field(description="Highest altitude of the volume, metres (inclusive).")
    active_from: datetime | None = strawberry.field(description="Start of the active window; null: always.")
    active_to: datetime | None = strawberry.field(
        description="End (exclusive) of the window; null: for ever."
    )
    geometry: GeoJSON = strawberry.field(description="The zone's footprint, a GeoJSON MultiPolygon.")

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> RestrictedZone:
        return cls(
            id=strawberry.ID(str(r["id"])),
            name=r["name"],
            kind=r["kind"],
            floor=r["floor_m"],
            ceiling=r["ceiling_m"],
            active_from=r["active_from"],
            active_to=r["active_to"],
            geometry=GeoJSON(r["geometry"]),
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> RestrictedZone | None:
        key = parse_uuid(id)
        row = await loaders(info).zone().load(key) if key else None
        return cls.from_row(row) if row else None

    @strawberry.field(description="True when the zone has no time window (always active).")
    def always_active(self) -> bool:
        return self.active_from is None and self.active_to is None

    @strawberry.field(description="Aircraft tracks that entered this zone, in order of entry.")
    async def violations(self, info: Info, time: TimeFilter | None = None) -> list[ZoneViolation]:
        rows = (
            await loaders(info)
            .violations_by("zone_id", time.to_domain() if time else None)
            .load(uuid.UUID(self.id))
        )
        return [ZoneViolation.from_row(r) for r in rows]


@strawberry.type(
    description="An aircraft track inside a restricted zone: its observations inside the polygon, between "
    "floor and ceiling, within the zone's active window."
)
class ZoneViolation:
    track_id: strawberry.ID
    zone_id: strawberry.ID
    entity_id: strawberry.ID
    entered_at: datetime = strawberry.field(description="Time of the first observation inside.")
    exited_at: datetime = strawberry.field(description="Time of the last observation inside.")
    min_altitude: float = strawberry.field(description="Lowest altitude inside, metres.")
    max_altitude: float = strawberry.field(description="Highest altitude inside, metres.")
    observation_count: int = strawberry.field(description="Observations inside.")

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> ZoneViolation:
        return cls(
            track_id=strawberry.ID(str(r["track_id"])),
            zone_id=strawberry.ID(str(r["zone_id"])),
            entity_id=strawberry.ID(str(r["entity_id"])),
            entered_at=r["entered_at"],
            exited_at=r["exited_at"],
            min_altitude=r["min_altitude_m"],
            max_altitude=r["max_altitude_m"],
            observation_count=r["observation_count"],
        )

    @strawberry.field(description="`trackId:zoneId`, stable.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(f"{self.track_id}:{self.zone_id}")

    @strawberry.field
    def track(self) -> Track:
        return Track(id=self.track_id)

    @strawberry.field
    def entity(self) -> Entity:
        return Entity(id=self.entity_id)

    @strawberry.field
    async def aircraft(self, info: Info) -> Aircraft | None:
        row = await loaders(info).aircraft().load(uuid.UUID(self.entity_id))
        return Aircraft.from_row(row) if row else None

    @strawberry.field
    async def zone(self, info: Info) -> RestrictedZone | None:
        row = await loaders(info).zone().load(uuid.UUID(self.zone_id))
        return RestrictedZone.from_row(row) if row else None


@strawberry.enum(description="What an aircraft observation did relative to a restricted zone.")
class ZoneEventKind(Enum):
    ENTERED = strawberry.enum_value(
        "ENTERED", description="Inside the zone, and the aircraft's previous observation was not (or none)."
    )
    INSIDE = strawberry.enum_value("INSIDE", description="Inside the zone, as the previous observation was.")
    LEFT = strawberry.enum_value(
        "LEFT",
        description="Outside the zone (or the zone no longer active); the previous observation was in.",
    )


@strawberry.type(
    description="A live zone event: one new aircraft observation against one restricted zone, compared with "
    'the same aircraft\'s previous observation ("inside" is the zoneViolations rule).'
)
class ZoneEvent:
    kind: ZoneEventKind
    zone_id: strawberry.ID
    zone_kind: str
    entity_id: strawberry.ID
    track_id: strawberry.ID
    observation_id: strawberry.ID = strawberry.field(
        description="The new observation (core `Observation.id`)."
    )
    previous_observation_id: strawberry.ID | None = strawberry.field(
        description="The aircraft's previous observation it was compared with; null for its first."
    )
    time: datetime
    lon: float
    lat: float
    altitude: float = strawberry.field(description="Metres.")

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> ZoneEvent:
        previous = r["previous_observation_id"]
        return cls(
            kind=ZoneEventKind(r["event"]),
            zone_id=strawberry.ID(str(r["zone_id"])),
            zone_kind=r["zone_kind"],
            entity_id=strawberry.ID(str(r["entity_id"])),
            track_id=strawberry.ID(str(r["track_id"])),
            observation_id=strawberry.ID(str(r["observation_id"])),
            previous_observation_id=strawberry.ID(str(previous)) if previous is not None else None,
            time=r["t"],
            lon=r["lon"],
            lat=r["lat"],
            altitude=r["altitude_m"],
        )

    @strawberry.field(description="`observationId:zoneId`, stable.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(f"{self.observation_id}:{self.zone_id}")

    @strawberry.field
    async def zone(self, info: Info) -> RestrictedZone | None:
        row = await loaders(info).zone().load(uuid.UUID(self.zone_id))
        return RestrictedZone.from_row(row) if row else None

    @strawberry.field
    async def aircraft(self, info: Info) -> Aircraft | None:
        row = await loaders(info).aircraft().load(uuid.UUID(self.entity_id))
        return Aircraft.from_row(row) if row else None

    @strawberry.field
    def entity(self) -> Entity:
        return Entity(id=self.entity_id)

    @strawberry.field
    def track(self) -> Track:
        return Track(id=self.track_id)
