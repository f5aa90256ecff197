"""Object types of the telecom subgraph, and core's Entity extended by key with `networkNode`.

Nested fields load through the request's `TelecomLoaders`, one statement per batch.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from enum import Enum
from typing import cast

import asyncpg
import strawberry

from atlas4d.core.context import Info
from atlas4d.core.schema.inputs import TimeFilter
from atlas4d.core.schema.scalars import Duration, GeoJSON
from atlas4d.errors import BadDuration, BadInput
from atlas4d.modules.telecom.loaders import TelecomLoaders
from atlas4d.modules.telecom.queries import AnomalyArgs, MetricArgs

DEFAULT_INTERVAL = timedelta(hours=1)


def loaders(info: Info) -> TelecomLoaders:
    return cast(TelecomLoaders, info.context.module_loaders("telecom"))


@strawberry.enum(description="The role of a node in the access network.")
class NetworkNodeKind(Enum):
    OLT = "olt"
    SWITCH = "switch"
    CPE = "cpe"


@strawberry.enum
class NetworkLinkMedium(Enum):
    FIBER = "fiber"
    COPPER = "copper"
    WIRELESS = "wireless"


@strawberry.enum(description="The network anomaly types of the Atlas4D telecom profile.")
class NetworkAnomalyType(Enum):
    HIGH_LATENCY = "high_latency"
    PACKET_LOSS = "packet_loss"
    LINK_DOWN = "link_down"
    CONGESTION = "congestion"
    POWER_WARNING = "power_warning"


@strawberry.enum
class NetworkNodeStatus(Enum):
    UP = "up"
    DOWN = "down"


def metric_args(info: Info, time: TimeFilter | None, interval: Duration | None) -> MetricArgs:
    """A checked time window and bucket interval (not too fine, not too many buckets)."""
    s = loaders(info).settings
    step = interval if interval is not None else Duration(DEFAULT_INTERVAL)
    window = time.to_domain() if time else None
    if step < timedelta(seconds=s.min_metric_interval_s):
        raise BadDuration(f"`interval` must be at least {s.min_metric_interval_s} seconds", field="interval")
    if window is not None and window.start is not None:
        end = window.end or datetime.now(window.start.tzinfo)
        buckets = math.ceil((end - window.start) / step)
        if buckets > s.max_metric_buckets:
            raise BadInput(
                f"{buckets} buckets per node asked; the most is {s.max_metric_buckets}: "
                "widen `interval` or narrow `time`",
                field="interval",
            )
    return MetricArgs(window, step)


def anomaly_args(
    types: list[NetworkAnomalyType] | None, time: TimeFilter | None, min_severity: int | None
) -> AnomalyArgs:
    if min_severity is not None and not 1 <= min_severity <= 5:
        raise BadInput(f"`minSeverity` must be within 1..5, got {min_severity}", field="minSeverity")
    return AnomalyArgs(
        tuple(t.value for t in types) if types is not None else None,
        time.to_domain() if time else None,
        min_severity,
    )


@strawberry.federation.type(keys=["id"])
class Entity:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Entity:
        return cls(id=id)

    @strawberry.field(description="The network node this entity is; null when it is none.")
    async def network_node(self, info: Info) -> NetworkNode | None:
        try:
            key = uuid.UUID(str(self.id))
        except ValueError:
            return None
        row = await loaders(info).node().load(key)
        return NetworkNode.from_row(row) if row else None


@strawberry.type(description="An OLT, switch or CPE of the access network; its id is its core entity's.")
class NetworkNode:
    id: strawberry.ID
    kind: NetworkNodeKind
    name: str
    vendor: str | None
    model: str | None
    capacity_mbps: float | None
    ports: int | None
    ports_used: int | None
    optical_power_dbm: float | None = strawberry.field(description="Nominal received optical power.")
    lon: float | None
    lat: float | None

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> NetworkNode:
        return cls(
            id=strawberry.ID(str(r["entity_id"])),
            kind=NetworkNodeKind(r["kind"]),
            name=r["name"],
            vendor=r["vendor"],
            model=r["model"],
            capacity_mbps=r["capacity_mbps"],
            ports=r["ports"],
            ports_used=r["ports_used"],
            optical_power_dbm=r["optical_power_dbm"],
            lon=r["lon"],
            lat=r["lat"],
        )

    @property
    def key(self) -> uuid.UUID:
        return uuid.UUID(self.id)

    @strawberry.field(description="A GeoJSON Point; null when the position is unknown.")
    def geometry(self) -> GeoJSON | None:
        if self.lon is None or self.lat is None:
            return None
        return GeoJSON({"type": "Point", "coordinates": [self.lon, self.lat]})

    @strawberry.field(description="The core entity (observations, latest position, core anomalies).")
    def entity(self) -> Entity:
        return Entity(id=self.id)

    @strawberry.field(description="The node this one hangs from; null for the root of the tree.")
    async def parent(self, info: Info) -> NetworkNode | None:
        row = await loaders(info).uplink().load(self.key)
        return NetworkNode.from_row(row) if row else None

    @strawberry.field(description="The nodes this one feeds, by name.")
    async def children(self, info: Info) -> list[NetworkNode]:
        return [NetworkNode.from_row(r) for r in await loaders(info).downstream().load(self.key)]

    @strawberry.field(description="Links at either end of this node, its uplink first.")
    async def links(self, info: Info) -> list[NetworkLink]:
        return [NetworkLink.from_row(r) for r in await loaders(info).links().load(self.key)]

    @strawberry.field(description="The most recent metrics sample.")
    async def latest_metric(self, info: Info) -> NetworkMetricSample | None:
        row = await loaders(info).latest_metric().load(self.key)
        return NetworkMetricSample.from_row(row) if row else None

    @strawberry.field(description="Metrics aggregated per `interval` (default PT1H) bucket, oldest first.")
    async def metrics(
        self, info: Info, time: TimeFilter | None = None, interval: Duration | None = None
    ) -> list[NetworkMetricBucket]:
        rows = await loaders(info).metrics(metric_args(info, time, interval)).load(self.key)
        return [NetworkMetricBucket.from_row(r) for r in rows]

    @strawberry.field(description="This node's anomalies overlapping `time`, newest first.")
    async def anomalies(
        self,
        info: Info,
        time: TimeFilter | None = None,
        types: list[NetworkAnomalyType] | None = None,
        min_severity: int | None = None,
    ) -> list[NetworkAnomaly]:
        rows = await loaders(info).anomalies(anomaly_args(types, time, min_severity)).load(self.key)
        return [NetworkAnomaly.from_row(r) for r in rows]


@strawberry.type(description="A physical link, pointing downstream (from the node that feeds the other).")
class NetworkLink:
    id: strawberry.ID
    medium: NetworkLinkMedium
    capacity_mbps: float
    length_meters: float | None
    from_id: strawberry.Private[uuid.UUID]
    to_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> NetworkLink:
        return cls(
            id=strawberry.ID(str(r["id"])),
            medium=NetworkLinkMedium(r["medium"]),
            capacity_mbps=r["capacity_mbps"],
            length_meters=r["length_m"],
            from_id=r["from_node"],
            to_id=r["to_node"],
        )

    @strawberry.field(name="from")
    async def from_(self, info: Info) -> NetworkNode | None:
        row = await loaders(info).node().load(self.from_id)
        return NetworkNode.from_row(row) if row else None

    @strawberry.field
    async def to(self, info: Info) -> NetworkNode | None:
        row = await loaders(info).node().load(self.to_id)
        return NetworkNode.from_row(row) if row else None


@strawberry.type(description="One metrics sample of a node.")
class NetworkMetricSample:
    time: datetime
    throughput_mbps: float | None
    latency_ms: float | None
    packet_loss_pct: float | None
    optical_power_dbm: float | None
    utilization_pct: float | None
    status: NetworkNodeStatus

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> NetworkMetricSample:
        return cls(
            time=r["t"],
            throughput_mbps=r["throughput_mbps"],
            latency_ms=r["latency_ms"],
            packet_loss_pct=r["packet_loss_pct"],
            optical_power_dbm=r["optical_power_dbm"],
            utilization_pct=r["utilization_pct"],
            status=NetworkNodeStatus(r["status"]),
        )


@strawberry.type(description="A node's metrics over one time bucket [start, start + interval).")
class NetworkMetricBucket:
    node_id: strawberry.ID
    start: datetime
    interval: Duration
    samples: int
    down_samples: int
    throughput_mbps: float | None = strawberry.field(description="Mean.")
    max_throughput_mbps: float | None
    latency_ms: float | None = strawberry.field(description="Mean over samples that measured it.")
    max_latency_ms: float | None
    packet_loss_pct: float | None = strawberry.field(description="Mean.")
    max_packet_loss_pct: float | None
    optical_power_dbm: float | None = strawberry.field(description="Mean.")
    min_optical_power_dbm: float | None
    utilization_pct: float | None = strawberry.field(description="Mean.")

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> NetworkMetricBucket:
        return cls(
            node_id=strawberry.ID(str(r["node_id"])),
            start=r["bucket"],
            interval=Duration(r["step"]),
            samples=r["samples"],
            down_samples=r["down_samples"],
            throughput_mbps=r["throughput_mbps"],
            max_throughput_mbps=r["max_throughput_mbps"],
            latency_ms=r["latency_ms"],
            max_latency_ms=r["max_latency_ms"],
            packet_loss_pct=r["packet_loss_pct"],
            max_packet_loss_pct=r["max_packet_loss_pct"],
            optical_power_dbm=r["optical_power_dbm"],
            min_optical_power_dbm=r["min_optical_power_dbm"],
            utilization_pct=r["utilization_pct"],
        )

    @strawberry.field
    async def node(self, info: Info) -> NetworkNode | None:
        row = await loaders(info).node().load(uuid.UUID(self.node_id))
        return NetworkNode.from_row(row) if row else None


@strawberry.type(description="A run of faulty metrics samples of one node.")
class NetworkAnomaly:
    id: strawberry.ID
    type: NetworkAnomalyType
    severity: int = strawberry.field(description="1 (info) .. 5 (critical).")
    started_at: datetime = strawberry.field(description="Time of the first faulty sample.")
    ended_at: datetime = strawberry.field(description="Time of the last faulty sample.")
    samples: int
    peak_value: float | None = strawberry.field(
        description="The worst value seen: ms, %, utilisation % or dBm by type."
    )
    threshold: float | None = strawberry.field(description="The detection threshold it crossed.")
    node_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, r: asyncpg.Record) -> NetworkAnomaly:
        return cls(
            id=strawberry.ID(str(r["id"])),
            type=NetworkAnomalyType(r["type"]),
            severity=r["severity"],
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            samples=r["samples"],
            peak_value=r["peak_value"],
            threshold=r["threshold"],
            node_id=r["node_id"],
        )

    @strawberry.field
    def duration(self) -> Duration:
        return Duration(self.ended_at - self.started_at)

    @strawberry.field
    async def node(self, info: Info) -> NetworkNode | None:
        row = await loaders(info).node().load(self.node_id)
        return NetworkNode.from_row(row) if row else None
