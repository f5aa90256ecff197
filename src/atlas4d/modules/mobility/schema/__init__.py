"""The mobility subgraph (Strawberry, Apollo Federation 2.7): its root fields, and core's Entity and
Track extended by key."""

from __future__ import annotations

from typing import Final

import strawberry
from strawberry.schema.config import StrawberryConfig

from atlas4d.core.schema.scalars import SCALAR_MAP
from atlas4d.modules.mobility import resolvers
from atlas4d.modules.mobility.schema.types import (
    DwellEvent,
    Entity,
    Geofence,
    Observation,
    SpeedingEvent,
    Stop,
    Track,
    Trip,
    Vehicle,
)

FEDERATION_VERSION: Final = "2.7"


@strawberry.type
class Query:
    vehicles: list[Vehicle] = strawberry.field(resolver=resolvers.vehicles, description="Vehicles by label.")
    trips: list[Trip] = strawberry.field(resolver=resolvers.trips, description="Trips, oldest first.")
    stops: list[Stop] = strawberry.field(resolver=resolvers.stops, description="Stops by name.")
    geofences: list[Geofence] = strawberry.field(
        resolver=resolvers.geofences, description="Speed-limited zones by name."
    )
    speeding_events: list[SpeedingEvent] = strawberry.field(
        resolver=resolvers.speeding_events,
        description="Observations faster than the limit of a geofence they lie in, oldest first "
        "(one event per observation and zone).",
    )
    dwell_events: list[DwellEvent] = strawberry.field(
        resolver=resolvers.dwell_events,
        description="Stays of at least `minMinutes` within `radiusMeters`, oldest first.",
    )


@strawberry.type
class Subscription:
    geofence_events = strawberry.subscription(
        resolver=resolvers.geofence_events,
        description="Each observation written after the subscription started that enters, leaves or speeds "
        "in a geofence matching `filter` (by any writer, in commit order).",
    )


def build_mobility_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        subscription=Subscription,
        types=[Entity, Track, Observation],
        federation_version=FEDERATION_VERSION,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
