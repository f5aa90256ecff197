"""The telecom demo's pure parts: node details, a tree topology, and (when core has no network) a stand-
alone Burgas access network with 24 h of 5-minute metrics and fault episodes. Same seed, same output."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "atlas4d:module:telecom")
INTERVAL = timedelta(minutes=5)
WINDOW = timedelta(hours=24)
LOCAL_UTC_OFFSET_H = 2  # Burgas, EET: traffic follows the local day
KIND_ORDER = ("olt", "switch", "cpe")
VENDORS = {
    "olt": (("Huawei", "MA5800-X7"), ("Nokia", "ISAM FX-8"), ("ZTE", "ZXA10 C600")),
    "switch": (("Cisco", "Catalyst 9300-24"), ("Juniper", "EX2300-24"), ("MikroTik", "CRS328-24P")),
    "cpe": (("Huawei", "HG8245H"), ("Nokia", "G-240W-F"), ("ZTE", "F660")),
}
DEFAULT_CAPACITY_MBPS = {"olt": 40_000.0, "switch": 10_000.0, "cpe": 500.0}
PORTS = {"olt": 64, "switch": 24, "cpe": 4}
OLTS = (
    ("OLT-Burgas-Central", 27.4626, 42.5048, 40, 128),
    ("OLT-Burgas-South", 27.4734, 42.4892, 40, 96),
    ("OLT-Burgas-North", 27.4412, 42.5234, 20, 64),
)
CENTER = (27.4700, 42.4960)
BASE_LATENCY_MS = {"olt": 0.8, "switch": 1.2, "cpe": 2.5}
RX_POWER_DBM = {"olt": (-12.0, -8.0), "switch": (-10.0, -5.0), "cpe": (-24.0, -17.0)}
FAULTS = ("high_latency", "packet_loss", "link_down", "congestion", "power_warning")


def seeded_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * 111_320 * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot(dx, (b[1] - a[1]) * 110_574)


@dataclass(frozen=True)
class NodeSpec:
    id: uuid.UUID
    kind: str
    name: str
    lon: float | None
    lat: float | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class NodeDetails:
    id: uuid.UUID
    kind: str
    name: str
    vendor: str
    model: str
    capacity_mbps: float
    ports: int
    ports_used: int


@dataclass(frozen=True)
class Link:
    id: uuid.UUID
    from_node: uuid.UUID
    to_node: uuid.UUID
    medium: str
    capacity_mbps: float


def _number(props: dict[str, Any], key: str) -> float | None:
    value = props.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def capacity_mbps(spec: NodeSpec) -> float:
    p = spec.properties
    for key, scale in (
        ("capacity_gbps", 1000),
        ("uplink_gbps", 1000),
        ("bandwidth_mbps", 1),
        ("capacity_mbps", 1),
    ):
        value = _number(p, key)
        if value is not None:
            return value * scale
    return DEFAULT_CAPACITY_MBPS[spec.kind]


def ordered(specs: list[NodeSpec]) -> list[NodeSpec]:
    return sorted(specs, key=lambda s: (KIND_ORDER.index(s.kind), s.name, s.id))


def topology(specs: list[NodeSpec], seed: int) -> list[Link]:
    """A tree: the biggest OLT feeds the other OLTs, each switch hangs from an OLT, each CPE from a switch
    (the one its entity names as `uplink_node`, else the nearest)."""
    rng = random.Random(f"telecom-links-{seed}")
    by_kind = {k: [s for s in ordered(specs) if s.kind == k] for k in KIND_ORDER}
    by_id = {s.id: s for s in specs}
    links: list[Link] = []

    def link(parent: NodeSpec, child: NodeSpec, medium: str, capacity: float) -> None:
        links.append(Link(seeded_id("link", parent.id, child.id), parent.id, child.id, medium, capacity))

    olts = by_kind["olt"]
    if olts:
        root = min(olts, key=lambda s: (-capacity_mbps(s), s.name))
        for olt in olts:
            if olt is not root:
                link(root, olt, "fiber", 100_000.0)
    for kind, upper in (("switch", "olt"), ("cpe", "switch")):
        for child in by_kind[kind]:
            parent = _parent(child, by_kind[upper], by_id)
            if parent is None:
                continue
            medium = "fiber" if kind == "switch" or rng.random() < 0.8 else "copper"
            link(parent, child, medium, capacity_mbps(child))
    return links


def _parent(child: NodeSpec, candidates: list[NodeSpec], by_id: dict[uuid.UUID, NodeSpec]) -> NodeSpec | None:
    named = child.properties.get("uplink_node")
    try:
        wanted = by_id.get(uuid.UUID(str(named))) if named else None
    except ValueError:
        wanted = None
    if wanted is not None and wanted in candidates:
        return wanted
    if not candidates:
        return None
    if child.lon is None or child.lat is None:
        return candidates[0]
    here = (child.lon, child.lat)
    return min(candidates, key=lambda c: (distance_m(here, (c.lon or 0.0, c.lat or 0.0)), c.name))


def node_details(specs: list[NodeSpec], links: list[Link], seed: int) -> list[NodeDetails]:
    rng = random.Random(f"telecom-nodes-{seed}")
    fed = {s.id: 0 for s in specs}
    for link in links:
        fed[link.from_node] += 1
    out = []
    for s in ordered(specs):
        vendor, model = rng.choice(VENDORS[s.kind])
        ports = int(_number(s.properties, "active_ports") or PORTS[s.kind])
        used = _number(s.properties, "ports_used")
        ports_used = int(used) if used is not None else (rng.randint(1, 4) if s.kind == "cpe" else fed[s.id])
        out.append(
            NodeDetails(s.id, s.kind, s.name, vendor, model, capacity_mbps(s), ports, min(ports, ports_used))
        )
    return out


def standalone_nodes(seed: int) -> list[NodeSpec]:
    """3 OLTs, 5 switches and 20 CPEs around Burgas (the original telecom demo's network)."""
    rng = random.Random(f"telecom-network-{seed}")
    props = {"scenario": "burgas", "module": "telecom"}
    nodes = [
        NodeSpec(seeded_id("node", name), "olt", name, lon, lat, {**props, "capacity_gbps": cap, "active_ports": ports})
        for name, lon, lat, cap, ports in OLTS
    ]  # fmt: skip
    switches = []
    for i in range(1, 6):
        lon, lat = CENTER[0] + rng.uniform(-0.04, 0.03), CENTER[1] + rng.uniform(-0.02, 0.03)
        name = f"SW-{i:03d}"
        switches.append(NodeSpec(seeded_id("node", name), "switch", name, round(lon, 6), round(lat, 6),
                                 {**props, "uplink_gbps": rng.choice((1, 10, 10))}))  # fmt: skip
    nodes += switches
    for i in range(1, 21):
        parent = switches[(i - 1) % len(switches)]
        assert parent.lon is not None and parent.lat is not None
        lon, lat = parent.lon + rng.uniform(-0.015, 0.015), parent.lat + rng.uniform(-0.01, 0.01)
        name = f"CPE-{i:04d}"
        nodes.append(NodeSpec(seeded_id("node", name), "cpe", name, round(lon, 6), round(lat, 6),
                              {**props, "bandwidth_mbps": rng.choice((100, 200, 500, 1000)),
                               "uplink_node": str(parent.id)}))  # fmt: skip
    return nodes


def _load(t: datetime) -> float:
    h = (t.hour + t.minute / 60 + LOCAL_UTC_OFFSET_H) % 24
    return 0.12 + 0.2 * math.exp(-(((h - 12.5) / 2.5) ** 2)) + 0.55 * math.exp(-(((h - 21) / 2.2) ** 2))


MetricRow = tuple[uuid.UUID, datetime, float, float | None, float, float, float, str]


def standalone_metrics(nodes: list[NodeDetails], seed: int, end: datetime) -> list[MetricRow]:
    """(node, t, throughput Mbps, latency ms, loss %, power dBm, utilisation %, status) every 5 minutes,
    with three fault episodes of each type on random nodes."""
    rng = random.Random(f"telecom-metrics-{seed}")
    start = end - WINDOW
    samples = int(WINDOW / INTERVAL)
    episodes: dict[tuple[int, int], str] = {}
    busy: set[tuple[int, int]] = set()
    for kind in [f for f in FAULTS for _ in range(3)]:
        while True:
            n, first, length = rng.randrange(len(nodes)), rng.randrange(12, samples - 12), rng.randint(1, 6)
            span = {(n, s) for s in range(first - 1, first + length + 1)}
            if not span & busy:
                busy |= span
                episodes.update({(n, s): kind for s in range(first, first + length)})
                break
    rows: list[MetricRow] = []
    for n, node in enumerate(nodes):
        power = rng.uniform(*RX_POWER_DBM[node.kind])
        for s in range(samples):
            t = start + s * INTERVAL
            load = min(0.85, _load(t) * rng.uniform(0.85, 1.1))
            latency: float | None = round(
                BASE_LATENCY_MS[node.kind] * (1 + 1.5 * load**2) + rng.uniform(0, 0.4), 2
            )
            loss, rx, status = round(rng.uniform(0, 0.08), 3), round(power + rng.gauss(0, 0.15), 2), "up"
            fault = episodes.get((n, s))
            if fault == "high_latency":
                latency = round(rng.uniform(45, 160), 1)
            elif fault == "packet_loss":
                loss = round(rng.uniform(2, 12), 2)
            elif fault == "link_down":
                load, latency, loss, status = 0.0, None, 100.0, "down"
            elif fault == "congestion":
                load = rng.uniform(0.95, 1.0)
                latency, loss = round((latency or 0) * rng.uniform(4, 8), 2), round(rng.uniform(0.5, 2), 2)
            elif fault == "power_warning":
                rx = round(rng.uniform(-29.5, -27.5), 2)
            throughput = round(node.capacity_mbps * load, 3)
            rows.append((node.id, t, throughput, latency, loss, rx, round(load * 100, 1), status))
    return rows
