"""The vision subgraph (Strawberry, Apollo Federation 2.7)."""

from __future__ import annotations

from typing import Final

import strawberry
from strawberry.schema.config import StrawberryConfig

from atlas4d.core.schema.scalars import SCALAR_MAP
from atlas4d.modules.vision import resolvers
from atlas4d.modules.vision.types import Entity, Track

FEDERATION_VERSION: Final = "2.7"


@strawberry.type
class Query:
    cameras = strawberry.field(resolver=resolvers.cameras, description="Cameras standing in `bbox`, by name.")
    detections = strawberry.field(
        resolver=resolvers.detections, description="Detections matching a filter, newest first."
    )


def build_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        types=[Entity, Track],
        federation_version=FEDERATION_VERSION,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
