"""SQL of the telecom module: column lists, metric aggregation (date_bin), and the root reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from atlas4d.core.filters import BBox, TimeRange, where
from atlas4d.core.sql import Params

NODE_COLUMNS = (
    "n.entity_id, n.kind, n.name, n.vendor, n.model, n.capacity_mbps, n.ports, n.ports_used, "
    "n.optical_power_dbm, ST_X(n.geom) AS lon, ST_Y(n.geom) AS lat"
)
LINK_COLUMNS = "l.id, l.from_node, l.to_node, l.medium, l.capacity_mbps, l.length_m"
ANOMALY_COLUMNS = (
    "a.id, a.node_id, a.type, a.severity, a.started_at, a.ended_at, a.peak_value, a.threshold, a.samples"
)
SAMPLE_COLUMNS = (
    "m.node_id, m.t, m.throughput_mbps, m.latency_ms, m.packet_loss_pct, m.optical_power_dbm, "
    "m.utilization_pct, m.status"
)
# Buckets start at whole multiples of the interval since this instant (so PT1H buckets start on the hour).
BUCKET_ORIGIN = "timestamptz '2000-01-01 00:00:00+00'"

Conn = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True)
class MetricArgs:
    time: TimeRange | None
    interval: timedelta


@dataclass(frozen=True)
class AnomalyArgs:
    types: tuple[str, ...] | None
    time: TimeRange | None
    min_severity: int | None


def metric_buckets_sql(args: MetricArgs, params: Params, nodes_ph: str) -> str:
    """Aggregates per node and time bucket, ordered by node (in `nodes_ph` order) then bucket."""
    clauses = ["m.node_id = k.key", *(args.time.sql("m.t", params) if args.time else [])]
    step = params.add(args.interval, "interval")
    return (
        f"SELECT k.key AS node_id, k.ord, date_bin({step}, m.t, {BUCKET_ORIGIN}) AS bucket, "
        f"{step} AS step, count(*)::integer AS samples, "
        "avg(m.throughput_mbps) AS throughput_mbps, max(m.throughput_mbps) AS max_throughput_mbps, "
        "avg(m.latency_ms) AS latency_ms, max(m.latency_ms) AS max_latency_ms, "
        "avg(m.packet_loss_pct) AS packet_loss_pct, max(m.packet_loss_pct) AS max_packet_loss_pct, "
        "avg(m.optical_power_dbm) AS optical_power_dbm, min(m.optical_power_dbm) AS min_optical_power_dbm, "
        "avg(m.utilization_pct) AS utilization_pct, "
        "count(*) FILTER (WHERE m.status = 'down')::integer AS down_samples "
        f"FROM unnest({nodes_ph}) WITH ORDINALITY AS k(key, ord) "
        f"JOIN atlas4d_telecom.metrics m ON {' AND '.join(clauses)} "
        "GROUP BY k.key, k.ord, bucket ORDER BY k.ord, bucket"
    )


def anomaly_clauses(args: AnomalyArgs, params: Params) -> list[str]:
    clauses = []
    if args.types is not None:
        clauses.append(f"a.type = ANY({params.add(list(args.types), 'text[]')})")
    if args.time is not None and args.time.start is not None:
        clauses.append(f"a.ended_at >= {params.add(args.time.start)}")
    if args.time is not None and args.time.end is not None:
        clauses.append(f"a.started_at < {params.add(args.time.end)}")
    if args.min_severity is not None:
        clauses.append(f"a.severity >= {params.add(args.min_severity)}")
    return clauses


async def network_nodes(
    conn: Conn, kinds: list[str] | None, bbox: BBox | None, ids: list[uuid.UUID] | None, first: int
) -> list[asyncpg.Record]:
    params = Params()
    clauses = []
    if kinds is not None:
        clauses.append(f"n.kind = ANY({params.add(kinds, 'text[]')})")
    if ids is not None:
        clauses.append(f"n.entity_id = ANY({params.add(ids, 'uuid[]')})")
    if bbox is not None:
        parts = [
            f"n.geom && ST_MakeEnvelope({params.add(e[0])}, {params.add(e[1])}, {params.add(e[2])}, "
            f"{params.add(e[3])}, 4326)"
            for e in bbox.envelopes()
        ]
        clauses.append("(" + " OR ".join(parts) + ")")
    sql = (
        f"SELECT {NODE_COLUMNS} FROM atlas4d_telecom.nodes n {where(clauses)} "
        "ORDER BY array_position(ARRAY['olt', 'switch', 'cpe'], n.kind), n.name, n.entity_id "
        f"LIMIT {params.add(first)}"
    )
    return list(await conn.fetch(sql, *params.values))


async def network_links(
    conn: Conn, node_ids: list[uuid.UUID] | None, media: list[str] | None, first: int
) -> list[asyncpg.Record]:
    params = Params()
    clauses = []
    if node_ids is not None:
        ph = params.add(node_ids, "uuid[]")
        clauses.append(f"(l.from_node = ANY({ph}) OR l.to_node = ANY({ph}))")
    if media is not None:
        clauses.append(f"l.medium = ANY({params.add(media, 'text[]')})")
    sql = (
        f"SELECT {LINK_COLUMNS} FROM atlas4d_telecom.links l "
        "JOIN atlas4d_telecom.nodes f ON f.entity_id = l.from_node "
        "JOIN atlas4d_telecom.nodes t ON t.entity_id = l.to_node "
        f"{where(clauses)} ORDER BY f.name, t.name, l.id LIMIT {params.add(first)}"
    )
    return list(await conn.fetch(sql, *params.values))


async def network_anomalies(
    conn: Conn, args: AnomalyArgs, node_ids: list[uuid.UUID] | None, first: int
) -> list[asyncpg.Record]:
    params = Params()
    clauses = anomaly_clauses(args, params)
    if node_ids is not None:
        clauses.append(f"a.node_id = ANY({params.add(node_ids, 'uuid[]')})")
    sql = (
        f"SELECT {ANOMALY_COLUMNS} FROM atlas4d_telecom.anomalies a {where(clauses)} "
        f"ORDER BY a.started_at DESC, a.id LIMIT {params.add(first)}"
    )
    return list(await conn.fetch(sql, *params.values))


async def network_metrics(
    conn: Conn, node_ids: list[uuid.UUID] | None, args: MetricArgs
) -> list[asyncpg.Record]:
    params = Params()
    if node_ids is None:
        nodes_ph = "ARRAY(SELECT entity_id FROM atlas4d_telecom.nodes ORDER BY name, entity_id)"
    else:
        nodes_ph = params.add(node_ids, "uuid[]")
    return list(await conn.fetch(metric_buckets_sql(args, params, nodes_ph), *params.values))
