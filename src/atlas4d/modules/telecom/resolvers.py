"""Root fields of the telecom subgraph: inputs checked at the edge, then one statement each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import strawberry

from atlas4d.core.context import Info
from atlas4d.core.filters import parse_uuids
from atlas4d.core.queries import page_size
from atlas4d.core.schema.inputs import BBoxInput, TimeFilter
from atlas4d.core.schema.scalars import Duration
from atlas4d.modules.telecom import queries
from atlas4d.modules.telecom.live import TOPIC, AnomalySpec
from atlas4d.modules.telecom.schema.types import (
    NetworkAnomaly,
    NetworkAnomalyType,
    NetworkLink,
    NetworkLinkMedium,
    NetworkMetricBucket,
    NetworkNode,
    NetworkNodeKind,
    anomaly_args,
    metric_args,
)
from atlas4d.streaming.derived import Feed


def _first(info: Info, first: int | None) -> int:
    s = info.context.settings
    return page_size(first, s.default_page_size, s.max_page_size)


async def network_nodes(
    info: Info,
    kinds: list[NetworkNodeKind] | None = None,
    bbox: BBoxInput | None = None,
    ids: list[strawberry.ID] | None = None,
    first: int | None = None,
) -> list[NetworkNode]:
    rows = await queries.network_nodes(
        info.context.pool,
        [k.value for k in kinds] if kinds is not None else None,
        bbox.to_domain() if bbox else None,
        parse_uuids(ids, "ids"),
        _first(info, first),
    )
    return [NetworkNode.from_row(r) for r in rows]


async def network_links(
    info: Info,
    node_ids: Annotated[
        list[strawberry.ID] | None, strawberry.argument(description="Links at either end of these nodes.")
    ] = None,
    media: list[NetworkLinkMedium] | None = None,
    first: int | None = None,
) -> list[NetworkLink]:
    rows = await queries.network_links(
        info.context.pool,
        parse_uuids(node_ids, "nodeIds"),
        [m.value for m in media] if media is not None else None,
        _first(info, first),
    )
    return [NetworkLink.from_row(r) for r in rows]


async def network_anomalies(
    info: Info,
    types: list[NetworkAnomalyType] | None = None,
    time: Annotated[TimeFilter | None, strawberry.argument(description="Anomalies overlapping it.")] = None,
    min_severity: int | None = None,
    node_ids: list[strawberry.ID] | None = None,
    first: int | None = None,
) -> list[NetworkAnomaly]:
    rows = await queries.network_anomalies(
        info.context.pool,
        anomaly_args(types, time, min_severity),
        parse_uuids(node_ids, "nodeIds"),
        _first(info, first),
    )
    return [NetworkAnomaly.from_row(r) for r in rows]


async def network_metrics(
    info: Info,
    node_ids: Annotated[
        list[strawberry.ID] | None, strawberry.argument(description="Default: every node.")
    ] = None,
    time: TimeFilter | None = None,
    interval: Annotated[
        Duration | None, strawberry.argument(description="Bucket width (default PT1H).")
    ] = None,
) -> list[NetworkMetricBucket]:
    ids = parse_uuids(node_ids, "nodeIds")
    rows = await queries.network_metrics(info.context.pool, ids, metric_args(info, time, interval))
    return [NetworkMetricBucket.from_row(r) for r in rows]


async def network_anomaly_detected(
    info: Info,
    types: list[NetworkAnomalyType] | None = None,
    time: Annotated[TimeFilter | None, strawberry.argument(description="Anomalies overlapping it.")] = None,
    min_severity: int | None = None,
    node_ids: list[strawberry.ID] | None = None,
) -> AsyncIterator[NetworkAnomaly]:
    """`networkAnomalies`' arguments, validated by the same code; the live feed the hub serves."""
    nodes = parse_uuids(node_ids, "nodeIds")
    spec = AnomalySpec(
        anomaly_args(types, time, min_severity), frozenset(nodes) if nodes is not None else None
    )
    return Feed(TOPIC, spec)
