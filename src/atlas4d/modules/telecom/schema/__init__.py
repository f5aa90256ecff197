"""The telecom subgraph (Strawberry, Apollo Federation 2.7): its root fields, and core's Entity extended
by key with `networkNode`."""

from __future__ import annotations

from typing import Final

import strawberry
from strawberry.schema.config import StrawberryConfig

from atlas4d.core.schema.scalars import SCALAR_MAP
from atlas4d.modules.telecom import resolvers
from atlas4d.modules.telecom.schema.types import (
    Entity,
    NetworkAnomaly,
    NetworkLink,
    NetworkMetricBucket,
    NetworkNode,
)

FEDERATION_VERSION: Final = "2.7"


@strawberry.type
class Query:
    network_nodes: list[NetworkNode] = strawberry.field(
        resolver=resolvers.network_nodes,
        description="Network nodes: OLTs, then switches, then CPEs, by name.",
    )
    network_links: list[NetworkLink] = strawberry.field(
        resolver=resolvers.network_links, description="Topology links, by the names of their ends."
    )
    network_anomalies: list[NetworkAnomaly] = strawberry.field(
        resolver=resolvers.network_anomalies, description="Network anomalies, newest first."
    )
    network_metrics: list[NetworkMetricBucket] = strawberry.field(
        resolver=resolvers.network_metrics,
        description="Metrics per node and time bucket (date_bin in PostgreSQL), by node then time.",
    )


@strawberry.type
class Subscription:
    network_anomaly_detected = strawberry.subscription(
        resolver=resolvers.network_anomaly_detected,
        description="Each network anomaly stored after the subscription started that matches the arguments "
        "(as `networkAnomalies`; by any writer, in commit order).",
    )


def build_telecom_schema() -> strawberry.federation.Schema:
    return strawberry.federation.Schema(
        query=Query,
        subscription=Subscription,
        types=[Entity],
        federation_version=FEDERATION_VERSION,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
