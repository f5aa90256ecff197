"""Object types of the core subgraph. Nested fields load through the request's DataLoaders."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
import strawberry
from strawberry.scalars import JSON

from atlas4d.core.context import Info
from atlas4d.core.filters import parse_bigint
from atlas4d.core.loaders import ListArgs
from atlas4d.core.queries import page_size
from atlas4d.core.schema.inputs import TimeFilter, TimeOrder
from atlas4d.core.schema.scalars import Duration, GeoJSON
from atlas4d.errors import BadInput
from atlas4d.settings import Settings
from atlas4d.web.fast_executor import preloaded


def parse_uuid(value: str, name: str = "id") -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def require_uuid(value: str, name: str = "id") -> uuid.UUID:
    parsed = parse_uuid(value)
    if parsed is None:
        raise BadInput(f"`{name}` is not a UUID: {str(value)[:60]!r}", field=name)
    return parsed


def list_args(info: Info, time: TimeFilter | None, first: int | None, order: TimeOrder) -> ListArgs:
    return nested_list_args(info.context.settings, time, first, order)


def nested_list_args(s: Settings, time: TimeFilter | None, first: int | None, order: TimeOrder) -> ListArgs:
    """The arguments of a nested list field (`Entity.observations`, …) as the loaders take them."""
    return ListArgs(
        time.to_domain() if time else None,
        page_size(first, s.default_page_size, s.max_page_size),
        order is TimeOrder.TIME_DESC,
    )


_NOT_LOADED: object = object()

# the position rule of atlas4d.core.position, as clients read it
POSITION_RULE = "WGS 84, from `geom`, else the lon/lat columns; null only for a row with no position at all."


@strawberry.type(description="A position in WGS 84, altitude in metres.")
class Position:
    lon: float
    lat: float
    altitude: float | None = None


@strawberry.federation.type(keys=["id"], description="Something that moves or measures.")
class Entity:
    id: strawberry.ID
    kind: str
    name: str | None
    source_type: str | None
    properties: JSON
    created_at: datetime
    _latest: strawberry.Private[object] = _NOT_LOADED

    @classmethod
    def from_row(cls, r: asyncpg.Record | Mapping[str, Any]) -> Entity:
        return cls(
            id=strawberry.ID(str(r["id"])),
            kind=r["kind"],
            name=r["name"],
            source_type=r["source_type"],
            properties=r["properties"] if r["properties"] is not None else {},
            created_at=r["created_at"],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Entity | None:
        key = parse_uuid(id)
        row = await info.context.loaders.entity().load(key) if key else None
        return cls.from_row(row) if row else None

    @strawberry.field(description="This entity's observations, newest first unless orderBy says otherwise.")
    async def observations(
        self,
        info: Info,
        time: TimeFilter | None = None,
        first: int | None = None,
        order_by: TimeOrder = TimeOrder.TIME_DESC,
    ) -> list[Observation]:
        rows = await info.context.loaders.entity_observations(list_args(info, time, first, order_by)).load(
            uuid.UUID(self.id)
        )
        return [Observation.from_row(r) for r in rows]

    # returns `_latest` when the page's look-ahead preloaded it: the fast executor may use it directly
    @strawberry.field(
        description="The most recent observation of this entity.", metadata=preloaded("_latest", _NOT_LOADED)
    )
    def latest_observation(self, info: Info) -> Observation | None:
        # the page resolver's look-ahead may have preloaded it (see Observation.entity)
        if self._latest is not _NOT_LOADED:
            return self._latest  # type: ignore[return-value]
        return self._load_latest(info)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_latest(self, info: Info) -> Observation | None:
        row = await info.context.loaders.latest_observation().load(uuid.UUID(self.id))
        return Observation.from_row(row) if row else None

    @strawberry.field(description="This entity's tracks, newest first unless orderBy says otherwise.")
    async def tracks(
        self,
        info: Info,
        time: TimeFilter | None = None,
        first: int | None = None,
        order_by: TimeOrder = TimeOrder.TIME_DESC,
    ) -> list[Track]:
        rows = await info.context.loaders.entity_tracks(list_args(info, time, first, order_by)).load(
            uuid.UUID(self.id)
        )
        return [Track.from_row(r) for r in rows]


@strawberry.federation.type(
    keys=["id"], description="A time-stamped position of an entity, with what was measured."
)
class Observation:
    id: strawberry.ID
    time: datetime
    lon: float | None = strawberry.field(description=f"Longitude in {POSITION_RULE}")
    lat: float | None = strawberry.field(description=f"Latitude in {POSITION_RULE}")
    altitude: float | None = strawberry.field(description="Metres.")
    speed: float | None = strawberry.field(description="Metres per second.")
    heading: float | None = strawberry.field(description="Degrees clockwise from north.")
    source_type: str | None
    entity_id: strawberry.ID | None
    track_id: strawberry.ID | None
    metadata: JSON | None
    geometry: GeoJSON | None = strawberry.field(
        description="A GeoJSON Point (with altitude as third coordinate when known); null only for a row with "
        "no position at all (see `lon`)."
    )
    _entity: strawberry.Private[object] = _NOT_LOADED

    @classmethod
    def from_row(cls, r: asyncpg.Record | Mapping[str, Any]) -> Observation:
        entity_id = r["entity_id"]
        track_id = r["track_id"]
        lon, lat, alt = r["lon"], r["lat"], r["altitude_m"]
        return cls(
            geometry=None
            if lon is None
            else GeoJSON({"type": "Point", "coordinates": [lon, lat] if alt is None else [lon, lat, alt]}),
            id=strawberry.ID(str(r["id"])),
            time=r["t"],
            lon=r["lon"],
            lat=r["lat"],
            altitude=r["altitude_m"],
            speed=r["speed_ms"],
            heading=r["heading_deg"],
            source_type=r["source_type"],
            entity_id=strawberry.ID(str(entity_id)) if entity_id else None,
            track_id=strawberry.ID(str(track_id)) if track_id else None,
            metadata=r["metadata"],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Observation | None:
        key = parse_bigint(id)
        if key is None:
            return None
        row = await info.context.loaders.observation().load(key)
        return cls.from_row(row) if row else None

    @strawberry.field(description="Null only for a row with no position at all (see `lon`).")
    def position(self) -> Position | None:
        if self.lon is None or self.lat is None:
            return None
        return Position(lon=self.lon, lat=self.lat, altitude=self.altitude)

    @strawberry.field(metadata=preloaded("_entity", _NOT_LOADED))
    def entity(self, info: Info) -> Entity | None:
        # Returned directly when the page resolver preloaded it (look-ahead), else loaded in a batch. A
        # value instead of an awaitable per object is what makes `nodes { entity { name } }` cheap.
        if self.entity_id is None:
            return None
        if self._entity is not _NOT_LOADED:
            return self._entity  # type: ignore[return-value]
        return self._load_entity(info)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_entity(self, info: Info) -> Entity | None:
        assert self.entity_id is not None
        row = await info.context.loaders.entity().load(uuid.UUID(self.entity_id))
        return Entity.from_row(row) if row else None

    @strawberry.field
    async def track(self, info: Info) -> Track | None:
        if self.track_id is None:
            return None
        row = await info.context.loaders.track().load(uuid.UUID(self.track_id))
        return Track.from_row(row) if row else None

    @strawberry.field
    async def anomalies(self, info: Info) -> list[Anomaly]:
        rows = await info.context.loaders.observation_anomalies().load(int(self.id))
        return [Anomaly.from_row(r) for r in rows]


@strawberry.federation.type(keys=["id"], description="The ordered observations of one moving entity.")
class Track:
    id: strawberry.ID
    entity_id: strawberry.ID | None
    source_type: str | None
    start_time: datetime
    end_time: datetime
    point_count: int
    length_meters: float = strawberry.field(description="Geodesic length on the WGS 84 spheroid.")

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Track:
        entity_id = r["entity_id"]
        return cls(
            id=strawberry.ID(str(r["id"])),
            entity_id=strawberry.ID(str(entity_id)) if entity_id else None,
            source_type=r["source_type"],
            start_time=r["start_time"],
            end_time=r["end_time"],
            point_count=r["point_count"],
            length_meters=r["length_m"],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Track | None:
        key = parse_uuid(id)
        row = await info.context.loaders.track().load(key) if key else None
        return cls.from_row(row) if row else None

    @strawberry.field
    def duration(self) -> Duration:
        return Duration(self.end_time - self.start_time)

    @strawberry.field
    async def entity(self, info: Info) -> Entity | None:
        if self.entity_id is None:
            return None
        row = await info.context.loaders.entity().load(uuid.UUID(self.entity_id))
        return Entity.from_row(row) if row else None

    @strawberry.field(description="The track's line; `simplify` is a tolerance in metres (Douglas-Peucker).")
    async def geometry(self, info: Info, simplify: float | None = None) -> GeoJSON | None:
        if simplify is not None and not (simplify >= 0 and simplify < 1e7):
            raise BadInput("`simplify` must be a tolerance in metres, 0 or more", field="simplify")
        value = await info.context.loaders.track_geometry(simplify or None).load(uuid.UUID(self.id))
        return GeoJSON(value) if value is not None else None

    @strawberry.field(description="This track's observations, oldest first unless orderBy says otherwise.")
    async def observations(
        self,
        info: Info,
        time: TimeFilter | None = None,
        first: int | None = None,
        order_by: TimeOrder = TimeOrder.TIME_ASC,
    ) -> list[Observation]:
        rows = await info.context.loaders.track_observations(list_args(info, time, first, order_by)).load(
            uuid.UUID(self.id)
        )
        return [Observation.from_row(r) for r in rows]

    @strawberry.field(
        description="Where the entity was at `time`: on the geodesic (WGS 84) between the two surrounding "
        "observations, at the fraction of the time between them (altitude linearly); the short way, across "
        "the antimeridian when that is shorter; null outside the track's time span."
    )
    async def position_at(self, info: Info, time: datetime) -> Position | None:
        if time.tzinfo is None:
            raise BadInput("`time` must carry a time zone", field="time")
        r = await info.context.loaders.track_position().load((uuid.UUID(self.id), time))
        if r is None or r["t0"] is None or r["t1"] is None:
            return None
        return Position(lon=r["lon"], lat=r["lat"], altitude=r["altitude"])


@strawberry.type(description="Something unusual detected on an observation.")
class Anomaly:
    id: strawberry.ID
    observation_id: strawberry.ID | None
    anomaly_type: str | None = strawberry.field(
        description="Null only for a Core Spec row stored without one."
    )
    severity: int | None
    score: float | None
    detected_at: datetime | None = strawberry.field(
        description="Null only for a Core Spec row stored without one."
    )
    metadata: JSON | None

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> Anomaly:
        oid = r["observation_id"]
        return cls(
            id=strawberry.ID(str(r["id"])),
            observation_id=strawberry.ID(str(oid)) if oid is not None else None,
            anomaly_type=r["anomaly_type"],
            severity=r["severity"],
            score=r["score"],
            detected_at=r["detected_at"],
            metadata=r["metadata"],
        )

    @strawberry.field
    async def observation(self, info: Info) -> Observation | None:
        if self.observation_id is None:
            return None
        row = await info.context.loaders.observation().load(int(self.observation_id))
        return Observation.from_row(row) if row else None
