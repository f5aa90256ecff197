"""The airspace subgraph (Strawberry, Apollo Federation 2.7)."""

from __future__ import annotations

from typing import Final

import strawberry
from strawberry.schema.config import StrawberryConfig

from atlas4d.core.schema.scalars import SCALAR_MAP
from atlas4d.modules.airspace import resolvers
from atlas4d.modules.airspace.types import Entity, Track

FEDERATION_VERSION: Final = "2.7"


@strawberry.type
class Query:
    aircraft = strawberry.field(
        resolver=resolvers.aircraft, description="Aircraft matching a filter, by ICAO24."
    )
    restricted_zones = strawberry.field(
        resolver=resolvers.restricted_zones,
        description="Restricted zones whose footprint meets `bbox` and that are active at `activeAt`, by name.",
    )
    zone_violations = strawberry.field(
        resolver=resolvers.zone_violations,
        description="Aircraft tracks inside restricted zones (observations within `time`), in order of entry.",
    )


@strawberry.type
class Subscription:
    zone_events = strawberry.subscription(
        resolver=resolvers.zone_events,
        description="Each aircraft observation written after the subscription started that enters, is inside "
        "or leaves a restricted zone matching `filter` (by any writer, in commit order).",
    )


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        subscription=Subscription,
        types=[Entity, Track],
        federation_version=FEDERATION_VERSION,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
