"""The Burgas access network: 3 OLTs, 5 switches, 20 CPEs with 5-minute telemetry and network anomalies.

Each node is an entity (kind olt / switch / cpe) and reports an observation every `INTERVAL_S` with its
metrics in `metadata` (throughput, utilisation, latency, packet loss, optical power, status); traffic
follows the local day with an evening peak. Anomaly episodes degrade the metrics of one node for a few
samples, and the anomaly row points at the first observation of its episode, so the fault is visible in
the data it refers to.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from atlas4d.demo.burgas_map import CENTER, CPES, LOCAL_UTC_OFFSET_H, OLTS, SWITCHES
from atlas4d.demo.geo import distance_m
from atlas4d.demo.rows import Anomaly, Entity, Observation, demo_id

INTERVAL_S = 300
ANOMALY_TYPES = ("high_latency", "packet_loss", "link_down", "congestion", "power_warning")
EPISODES_PER_TYPE = 3
# severity ranges of the original telecom profile
SEVERITY = {
    "high_latency": (2, 3),
    "packet_loss": (3, 4),
    "link_down": (5, 5),
    "congestion": (3, 3),
    "power_warning": (2, 2),
}
BASE_LATENCY_MS = {"olt": 0.8, "switch": 1.2, "cpe": 2.5}
RX_POWER_DBM = {"olt": (-12.0, -8.0), "switch": (-10.0, -5.0), "cpe": (-24.0, -17.0)}
CUSTOMERS = {"olt": (80, 400), "switch": (15, 80), "cpe": (1, 1)}


@dataclass(frozen=True)
class Node:
    entity: Entity
    lon: float
    lat: float
    capacity_gbps: float
    rx_power_dbm: float

    @property
    def kind(self) -> str:
        return self.entity.kind


@dataclass(frozen=True)
class Network:
    entities: list[Entity]
    observations: list[Observation]
    anomalies: list[Anomaly]


def _nodes(rng: random.Random) -> list[Node]:
    nodes: list[Node] = []

    def add(kind: str, name: str, lon: float, lat: float, capacity: float, props: dict[str, Any]) -> Node:
        entity = Entity(
            demo_id("burgas", kind, name), kind, name, kind, {**props, "scenario": "burgas", "demo": True}
        )
        node = Node(
            entity, round(lon, 6), round(lat, 6), capacity, round(rng.uniform(*RX_POWER_DBM[kind]), 1)
        )
        nodes.append(node)
        return node

    olts = [
        add("olt", n, lon, lat, cap, {"capacity_gbps": cap, "active_ports": ports})
        for n, lon, lat, cap, ports in OLTS
    ]
    switches = []
    for i in range(1, SWITCHES + 1):
        lon, lat = CENTER[0] + rng.uniform(-0.04, 0.03), CENTER[1] + rng.uniform(-0.02, 0.03)
        parent = min(olts, key=lambda o: distance_m(o.lon, o.lat, lon, lat))
        uplink = rng.choice((1, 10, 10, 10))
        props = {
            "uplink_gbps": uplink,
            "ports_used": rng.randrange(4, 24),
            "uplink_node": str(parent.entity.id),
        }
        switches.append(add("switch", f"SW-{i:03d}", lon, lat, uplink, props))
    for i in range(1, CPES + 1):
        parent = switches[(i - 1) % len(switches)]
        lon, lat = parent.lon + rng.uniform(-0.015, 0.015), parent.lat + rng.uniform(-0.01, 0.01)
        mbps = rng.choice((100, 200, 500, 1000))
        props = {"type": "ont", "bandwidth_mbps": mbps, "uplink_node": str(parent.entity.id)}
        add("cpe", f"CPE-{i:04d}", lon, lat, mbps / 1000, props)
    return nodes


def _load(t: datetime) -> float:
    """Share of capacity in use: low at night, a lunchtime bump, the evening peak around 21:00 local."""
    h = (t.hour + t.minute / 60 + LOCAL_UTC_OFFSET_H) % 24
    return 0.12 + 0.2 * math.exp(-(((h - 12.5) / 2.5) ** 2)) + 0.55 * math.exp(-(((h - 21) / 2.2) ** 2))


def _normal_metrics(node: Node, t: datetime, rng: random.Random) -> dict[str, Any]:
    load = min(0.85, _load(t) * rng.uniform(0.85, 1.1))
    return {
        "throughput_gbps": round(node.capacity_gbps * load, 4),
        "utilization_pct": round(load * 100, 1),
        "latency_ms": round(BASE_LATENCY_MS[node.kind] * (1 + 1.5 * load**2) + rng.uniform(0, 0.4), 2),
        "packet_loss_pct": round(rng.uniform(0.0, 0.08), 3),
        "rx_power_dbm": round(node.rx_power_dbm + rng.gauss(0, 0.15), 2),
        "status": "up",
    }


def _degrade(kind: str, metrics: dict[str, Any], node: Node, rng: random.Random) -> None:
    if kind == "high_latency":
        metrics["latency_ms"] = round(rng.uniform(45, 160), 1)
    elif kind == "packet_loss":
        metrics["packet_loss_pct"] = round(rng.uniform(2.0, 12.0), 2)
    elif kind == "link_down":
        metrics.update(
            status="down", throughput_gbps=0.0, utilization_pct=0.0, packet_loss_pct=100.0, latency_ms=None
        )
    elif kind == "congestion":
        util = rng.uniform(95, 100)
        metrics.update(
            throughput_gbps=round(node.capacity_gbps * util / 100, 4),
            utilization_pct=round(util, 1),
            latency_ms=round(metrics["latency_ms"] * rng.uniform(4, 8), 2),
            packet_loss_pct=round(rng.uniform(0.5, 2.0), 2),
        )
    elif kind == "power_warning":
        metrics["rx_power_dbm"] = round(rng.uniform(-29.5, -27.5), 2)


def access_network(seed: int, start: datetime, end: datetime) -> Network:
    rng = random.Random(f"burgas-network-{seed}")
    nodes = _nodes(rng)
    samples = math.ceil((end - start).total_seconds() / INTERVAL_S)
    # episodes: (node index, first sample, length, type); never two on one node at once
    busy: set[tuple[int, int]] = set()
    episodes: dict[tuple[int, int], tuple[str, int]] = {}
    kinds = [k for k in ANOMALY_TYPES for _ in range(EPISODES_PER_TYPE)]
    rng.shuffle(kinds)
    for kind in kinds:
        while True:
            n, first, length = rng.randrange(len(nodes)), rng.randrange(12, samples - 12), rng.randint(1, 6)
            span = {(n, s) for s in range(first - 1, first + length + 1)}
            if not span & busy:
                busy |= span
                episodes[(n, first)] = (kind, length)
                break
    observations: list[Observation] = []
    anomalies: list[Anomaly] = []
    for n, node in enumerate(nodes):
        active: tuple[str, int] | None = None
        for s in range(samples):
            t = start + timedelta(seconds=s * INTERVAL_S)
            metrics = _normal_metrics(node, t, rng)
            if (n, s) in episodes:
                kind, length = episodes[(n, s)]
                active = (kind, s + length)
                anomalies.append(_anomaly(node, kind, length, len(observations), t, rng))
            if active is not None and s < active[1]:
                _degrade(active[0], metrics, node, rng)
            observations.append(
                Observation(
                    t=t, lon=node.lon, lat=node.lat, source_type=node.kind, entity_id=node.entity.id, track_id=None,
                    altitude_m=round(rng.uniform(8, 30), 1) if s == 0 else None, speed_ms=0.0, heading_deg=None,
                    metadata={"demo": True, "scenario": "burgas", "metric_type": "telemetry", "node": node.entity.name,
                              "node_type": node.kind, **metrics},
                )
            )  # fmt: skip
    return Network([node.entity for node in nodes], observations, anomalies)


def _anomaly(node: Node, kind: str, length: int, index: int, t: datetime, rng: random.Random) -> Anomaly:
    low, high = CUSTOMERS[node.kind]
    return Anomaly(
        observation_index=index,
        anomaly_type=kind,
        severity=rng.randint(*SEVERITY[kind]),
        score=round(rng.uniform(0.6, 0.99), 3),
        detected_at=t + timedelta(seconds=rng.randrange(10, 120)),
        metadata={
            "demo": True,
            "network_demo": True,
            "scenario": "burgas",
            "node_id": str(node.entity.id),
            "node": node.entity.name,
            "node_type": node.kind,
            "duration_minutes": length * INTERVAL_S // 60,
            "affected_customers": rng.randint(low, high),
        },
    )


def node_ids() -> list[uuid.UUID]:
    """Ids of every network entity (they depend on names only, never on the seed)."""
    names = [("olt", o[0]) for o in OLTS]
    names += [("switch", f"SW-{i:03d}") for i in range(1, SWITCHES + 1)]
    names += [("cpe", f"CPE-{i:04d}") for i in range(1, CPES + 1)]
    return [demo_id("burgas", kind, name) for kind, name in names]
