"""The telecom demo around Burgas: every core entity of kind olt / switch / cpe becomes a network node,
joined in a tree; metrics come from the entities' telemetry observations (the core demo's) or, without
them, from a generated 24 h; anomalies are detected from the metrics in PostgreSQL, so they always agree.

Without core network entities it first creates the original demo's 28 nodes in core (entities and one
position observation each, written with core's validation). Deterministic and idempotent: a re-run
replaces its rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from atlas4d.core.ingest import OBSERVATION_COPY_COLUMNS, ObservationItem, validate_observations
from atlas4d.modules.contract import SeedSummary
from atlas4d.modules.telecom.scenario import (
    WINDOW,
    NodeSpec,
    node_details,
    seeded_id,
    standalone_metrics,
    standalone_nodes,
    topology,
)
from atlas4d.modules.telecom.settings import TelecomSettings, current_settings

FIND_NODES = """
SELECT e.id, e.kind, coalesce(e.name, e.kind || ' ' || left(e.id::text, 8)) AS name, e.properties,
       ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
FROM atlas4d.entities e
LEFT JOIN LATERAL (SELECT o.geom FROM atlas4d.observations_core o
                   WHERE o.entity_id = e.id AND o.geom IS NOT NULL ORDER BY o.t DESC LIMIT 1) p ON true
WHERE e.kind IN ('olt', 'switch', 'cpe') AND (e.properties->>'module' IS DISTINCT FROM 'telecom') = $1
"""
METRICS_FROM_TELEMETRY = """
INSERT INTO atlas4d_telecom.metrics
    (node_id, t, throughput_mbps, latency_ms, packet_loss_pct, optical_power_dbm, utilization_pct, status)
SELECT o.entity_id, o.t,
       coalesce((o.metadata->>'throughput_mbps')::float8, (o.metadata->>'throughput_gbps')::float8 * 1000),
       (o.metadata->>'latency_ms')::float8, (o.metadata->>'packet_loss_pct')::float8,
       coalesce((o.metadata->>'optical_power_dbm')::float8, (o.metadata->>'rx_power_dbm')::float8),
       (o.metadata->>'utilization_pct')::float8,
       CASE WHEN o.metadata->>'status' = 'down' THEN 'down' ELSE 'up' END
FROM atlas4d.observations_core o
WHERE o.entity_id = ANY($1::uuid[]) AND o.metadata ?| ARRAY['throughput_gbps', 'throughput_mbps']
ON CONFLICT (node_id, t) DO NOTHING
"""


def default_end() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _spec(r: asyncpg.Record) -> NodeSpec:
    return NodeSpec(r["id"], r["kind"], r["name"], r["lon"], r["lat"], dict(r["properties"] or {}))


async def _write_core_nodes(conn: asyncpg.Connection, specs: list[NodeSpec], end: datetime) -> int:
    """The stand-alone network's entities and one position observation each, replacing earlier ones."""
    ids = [s.id for s in specs]
    items = [
        ObservationItem(time=end - WINDOW, lon=s.lon or 0.0, lat=s.lat or 0.0, speed=0.0, source_type=s.kind,
                        entity_id=str(s.id), entity_kind=s.kind, metadata={"module": "telecom", "node": s.name})
        for s in specs
    ]  # fmt: skip
    rows, _ = validate_observations(items, max_batch=len(items))
    await conn.execute("DELETE FROM atlas4d.observations_core WHERE entity_id = ANY($1::uuid[])", ids)
    await conn.execute(
        "INSERT INTO atlas4d.entities (id, kind, name, source_type, properties) "
        "SELECT id, kind, name, kind, props FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[]) "
        "AS x(id, kind, name, props) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, "
        "name = excluded.name, source_type = excluded.source_type, properties = excluded.properties",
        ids,
        [s.kind for s in specs],
        [s.name for s in specs],
        [s.properties for s in specs],
    )
    await conn.copy_records_to_table(
        "observations_core", schema_name="atlas4d", columns=OBSERVATION_COPY_COLUMNS, records=rows
    )
    return len(rows)


async def detect_anomalies(
    conn: asyncpg.Connection, node_ids: list[uuid.UUID], settings: TelecomSettings
) -> int:
    """Replace the anomalies of these nodes with those their metrics show; returns how many."""
    found = await conn.fetch(
        "SELECT * FROM atlas4d_telecom.detect_anomalies($1::uuid[], NULL, NULL, $2, $3, $4, $5)",
        node_ids,
        settings.high_latency_ms,
        settings.packet_loss_pct,
        settings.congestion_utilization_pct,
        settings.power_warning_dbm,
    )
    await conn.execute("DELETE FROM atlas4d_telecom.anomalies WHERE node_id = ANY($1::uuid[])", node_ids)
    await conn.executemany(
        "INSERT INTO atlas4d_telecom.anomalies "
        "(id, node_id, type, severity, started_at, ended_at, peak_value, threshold, samples) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (seeded_id("anomaly", a["node_id"], a["type"], a["started_at"].isoformat()), *a.values())
            for a in found
        ],
    )
    return len(found)


async def seed_telecom(conn: asyncpg.Connection, seed: int, *, end: datetime | None = None) -> SeedSummary:
    """Load the telecom demo (see the module docstring); one transaction."""
    end = (end or default_end()).astimezone(UTC)
    settings = current_settings()
    created = 0
    async with conn.transaction():
        records = await conn.fetch(FIND_NODES, True)
        if not records:
            created = await _write_core_nodes(conn, standalone_nodes(seed), end)
            records = await conn.fetch(FIND_NODES, False)
        specs = [_spec(r) for r in records]
        ids = [s.id for s in specs]
        links = topology(specs, seed)
        details = node_details(specs, links, seed)
        await conn.execute(
            "DELETE FROM atlas4d_telecom.nodes n WHERE n.entity_id = ANY($1::uuid[]) "
            "OR NOT EXISTS (SELECT 1 FROM atlas4d.entities e WHERE e.id = n.entity_id)",
            ids,
        )  # links, metrics and anomalies go with their nodes
        position = {s.id: (s.lon, s.lat) for s in specs}
        await conn.execute(
            "INSERT INTO atlas4d_telecom.nodes (entity_id, kind, name, vendor, model, capacity_mbps, ports, "
            "ports_used, geom) SELECT id, kind, name, vendor, model, cap, ports, used, "
            "CASE WHEN lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END "
            "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::int[], "
            "$8::int[], $9::float8[], $10::float8[]) AS x(id, kind, name, vendor, model, cap, ports, used, lon, lat)",
            *[list(c) for c in zip(*[(d.id, d.kind, d.name, d.vendor, d.model, d.capacity_mbps, d.ports,
                                     d.ports_used, *position[d.id]) for d in details], strict=True)],
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO atlas4d_telecom.links (id, from_node, to_node, medium, capacity_mbps, length_m) "
            "SELECT x.id, x.a, x.b, x.medium, x.cap, ST_Distance(f.geom::geography, t.geom::geography) "
            "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::float8[]) AS x(id, a, b, medium, cap) "
            "JOIN atlas4d_telecom.nodes f ON f.entity_id = x.a JOIN atlas4d_telecom.nodes t ON t.entity_id = x.b",
            [lk.id for lk in links], [lk.from_node for lk in links], [lk.to_node for lk in links],
            [lk.medium for lk in links], [lk.capacity_mbps for lk in links],
        )  # fmt: skip
        await conn.execute(METRICS_FROM_TELEMETRY, ids)
        if not await conn.fetchval(
            "SELECT count(*) FROM atlas4d_telecom.metrics WHERE node_id = ANY($1)", ids
        ):
            await conn.copy_records_to_table(
                "metrics",
                schema_name="atlas4d_telecom",
                columns=("node_id", "t", "throughput_mbps", "latency_ms", "packet_loss_pct",
                         "optical_power_dbm", "utilization_pct", "status"),
                records=standalone_metrics(details, seed, end),
            )  # fmt: skip
        metrics = await conn.fetchval(
            "WITH p AS (SELECT node_id, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY optical_power_dbm)"
            "::numeric, 1)::float8 AS dbm, count(*) AS n FROM atlas4d_telecom.metrics "
            "WHERE node_id = ANY($1::uuid[]) GROUP BY node_id), "
            "u AS (UPDATE atlas4d_telecom.nodes n SET optical_power_dbm = p.dbm FROM p "
            "WHERE n.entity_id = p.node_id RETURNING p.n) SELECT coalesce(sum(n), 0) FROM u",
            ids,
        )
        anomalies = await detect_anomalies(conn, ids, settings)
    return SeedSummary(
        rows={
            "atlas4d_telecom.nodes": len(details),
            "atlas4d_telecom.links": len(links),
            "atlas4d_telecom.metrics": int(metrics),
            "atlas4d_telecom.anomalies": anomalies,
            "atlas4d.observations_core": created,
        }
    )
