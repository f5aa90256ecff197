"""Rows shaped like the original Atlas4D's seeds (`demo_burgas.sql`, `demo_telecom.sql`), generated here from a
fixed random seed so that every test has an exact oracle, plus the edge rows the Core Spec v0.3 DDL allows.

- Burgas-like: 500 observations in the last 23 hours (the seed's 24 less an hour, so that REST's default
  window holds them all while the suite runs) with `lat`/`lon` only (no `geom`), one random `track_id` each, source
  vehicle/sensor/camera, `metadata {"demo": true, "source": "seed_script"}`; 30 anomalies on them.
- Telecom-like: 3 OLTs (geom = lat/lon), 5 switches and 20 CPEs whose `geom` was drawn apart from their
  `lat`/`lon` (the original seed called random() separately for each: kilometres apart), 50 traffic metrics
  on one track of the central OLT (`metadata.node`); 15 anomalies on the nodes.
- Edges: an observation with no position at all, one with `lat` but no `lon`, one with `lat` above 90, one
  with a NaN `lat`, one with `geom` only and null `metadata`/`source_type`; anomalies with null type, null
  detection time, null severity and score, a score above 1, no observation, an observation id that does not
  exist, null metadata.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

TRAFFIC_TRACK = uuid.UUID("11111111-1111-1111-1111-111111111111")
OLTS = (
    ("OLT-Burgas-Central", 42.5048, 27.4626, 40, 128),
    ("OLT-Burgas-South", 42.4892, 27.4734, 40, 96),
    ("OLT-Burgas-North", 42.5234, 27.4412, 20, 64),
)


@dataclass
class Obs:
    t: datetime
    lat: float | None
    lon: float | None
    geom: tuple[float, float] | None  # (lon, lat)
    source_type: str | None
    track_id: uuid.UUID | None
    speed_ms: float | None = None
    heading_deg: float | None = None
    metadata: dict[str, Any] | None = None
    altitude_m: float | None = None
    id: int = 0

    @property
    def position(self) -> tuple[float, float] | None:
        """The documented rule: geom, else (lon, lat) when both are set and within WGS 84, else none."""
        if self.geom is not None:
            return self.geom
        if (
            self.lon is not None
            and self.lat is not None
            and -90 <= self.lat <= 90
            and -180 <= self.lon <= 180
        ):
            return (self.lon, self.lat)
        return None


@dataclass
class Anom:
    observation: int | None  # index into observations, or None
    anomaly_type: str | None
    severity: int | None
    score: float | None
    detected_at: datetime | None
    metadata: dict[str, Any] | None
    missing_observation_id: int | None = None
    id: int = 0


@dataclass
class SeedLike:
    now: datetime
    observations: list[Obs] = field(default_factory=list)
    anomalies: list[Anom] = field(default_factory=list)

    def by_id(self) -> dict[int, Obs]:
        return {o.id: o for o in self.observations}

    def inconsistent(self) -> list[Obs]:
        return [o for o in self.observations if o.source_type in ("switch", "cpe")]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def generate(seed: int = 14, now: datetime | None = None) -> SeedLike:
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    data = SeedLike(now)
    obs = data.observations
    for _ in range(500):
        kind = ("vehicle", "sensor", "camera")[min(2, round(rng.random() * 3))]
        obs.append(
            Obs(
                t=now - timedelta(seconds=rng.random() * 82_800),  # 23 h: an hour inside the default window
                lat=42.5 + (rng.random() - 0.5) * 0.1,
                lon=27.46 + (rng.random() - 0.5) * 0.15,
                geom=None,
                source_type=kind,
                track_id=_uuid(rng),
                speed_ms=rng.random() * 30,
                heading_deg=rng.random() * 360,
                metadata={"demo": True, "source": "seed_script"},
            )
        )
    burgas = list(range(500))
    for name, lat, lon, capacity, ports in OLTS:
        obs.append(
            Obs(now - timedelta(hours=1), lat, lon, (lon, lat), "olt", _uuid(rng), 0.0, None,
                {"name": name, "type": "olt", "capacity_gbps": capacity, "active_ports": ports})
        )  # fmt: skip
    for i in range(1, 6):
        lat, lon = 42.5 + (rng.random() - 0.5) * 0.05, 27.46 + (rng.random() - 0.5) * 0.08
        geom = (27.46 + (rng.random() - 0.5) * 0.08, 42.5 + (rng.random() - 0.5) * 0.05)
        obs.append(
            Obs(now - timedelta(seconds=rng.random() * 7200), lat, lon, geom, "switch", _uuid(rng), 0.0, None,
                {"name": f"SW-{i:03d}", "type": "distribution_switch", "uplink_gbps": rng.choice([1, 10]),
                 "ports_used": rng.randint(1, 24)})
        )  # fmt: skip
    for i in range(1, 21):
        lat, lon = 42.5 + (rng.random() - 0.5) * 0.08, 27.46 + (rng.random() - 0.5) * 0.12
        geom = (27.46 + (rng.random() - 0.5) * 0.12, 42.5 + (rng.random() - 0.5) * 0.08)
        obs.append(
            Obs(now - timedelta(seconds=rng.random() * 14_400), lat, lon, geom, "cpe", _uuid(rng), 0.0, 0.0,
                {"name": f"CPE-{i:04d}", "type": "ont", "rx_power_dbm": round(rng.random() * 8 - 28, 1),
                 "bandwidth_mbps": rng.choice([100, 200, 500, 1000])})
        )  # fmt: skip
    network = list(range(500, len(obs)))
    central = OLTS[0]
    for gs in range(1, 51):
        obs.append(
            Obs(now - timedelta(minutes=5 * gs), central[1], central[2], (central[2], central[1]),
                "traffic_metric", TRAFFIC_TRACK, round(rng.random() * 30 + 10, 2), None,
                {"metric_type": "bandwidth", "node": central[0],
                 "throughput_gbps": round(rng.random() * 20 + 5, 2), "latency_ms": round(rng.random() * 5 + 1, 1),
                 "packet_loss_pct": round(rng.random() * 0.5, 3)})
        )  # fmt: skip
    # edge rows the Core Spec DDL allows
    obs.append(
        Obs(now - timedelta(hours=2), None, None, None, "manual", None, metadata={"edge": "no position"})
    )
    obs.append(
        Obs(now - timedelta(hours=3), 42.51, None, None, "manual", None, metadata={"edge": "lat only"})
    )
    obs.append(Obs(now - timedelta(hours=5), 95.0, 27.4, None, "manual", None, metadata={"edge": "lat > 90"}))
    obs.append(Obs(now - timedelta(hours=6), math.nan, 27.4, None, "manual", None, metadata={"edge": "NaN"}))
    obs.append(Obs(now - timedelta(hours=4), None, None, (27.45, 42.49), None, _uuid(rng), metadata=None))

    types = ("speed_spike", "unusual_route", "stationary_alert", "pattern_deviation")
    for i in rng.sample(burgas, 30):
        data.anomalies.append(
            Anom(i, rng.choice(types), rng.randint(1, 5), rng.random(),
                 now - timedelta(seconds=rng.random() * 43_200), {"demo": True})
        )  # fmt: skip
    net_types = ("high_latency", "packet_loss", "link_down", "congestion", "power_warning")
    for i in rng.sample(network, 15):
        data.anomalies.append(
            Anom(i, rng.choice(net_types), rng.randint(2, 5), rng.random(),
                 now - timedelta(seconds=rng.random() * 21_600),
                 {"network_demo": True, "affected_customers": rng.randint(1, 50)})
        )  # fmt: skip
    recent = now - timedelta(hours=1)
    data.anomalies += [
        Anom(0, None, 3, 0.5, recent, {"edge": "no type"}),
        Anom(1, "speed_spike", 2, 0.4, None, {"edge": "no detection time"}),
        Anom(2, "speed_spike", None, None, recent, {"edge": "no severity, no score"}),
        Anom(3, "speed_spike", 5, 1.7, recent, {"edge": "score above 1"}),
        Anom(None, "pattern_deviation", 1, 0.2, recent, {"edge": "no observation"}),
        Anom(None, "pattern_deviation", 1, 0.2, recent, None, missing_observation_id=9_999_999),
        Anom(len(obs) - 3, "high_latency", 4, 0.9, recent, {"edge": "on a row with no position"}),
    ]
    return data


async def insert(conn: asyncpg.Connection, data: SeedLike) -> None:
    """Write the rows as the original's SQL would (no codecs needed: geometry built in SQL)."""
    for o in data.observations:
        o.id = await conn.fetchval(
            "INSERT INTO atlas4d.observations_core "
            "(t, lat, lon, geom, source_type, track_id, speed_ms, heading_deg, metadata, altitude_m) "
            "VALUES ($1, $2, $3, CASE WHEN $4::float8 IS NULL THEN NULL "
            "ELSE ST_SetSRID(ST_MakePoint($4, $5::float8), 4326) END, $6, $7, $8, $9, $10::text::jsonb, $11) "
            "RETURNING id",
            o.t, o.lat, o.lon, o.geom[0] if o.geom else None, o.geom[1] if o.geom else None,
            o.source_type, o.track_id, o.speed_ms, o.heading_deg,
            None if o.metadata is None else _json(o.metadata), o.altitude_m,
        )  # fmt: skip
    for a in data.anomalies:
        oid = data.observations[a.observation].id if a.observation is not None else a.missing_observation_id
        a.id = await conn.fetchval(
            "INSERT INTO atlas4d.anomalies (observation_id, anomaly_type, severity, score, detected_at, metadata) "
            "VALUES ($1, $2, $3, $4, $5, $6::text::jsonb) RETURNING id",
            oid, a.anomaly_type, a.severity, a.score, a.detected_at,
            None if a.metadata is None else _json(a.metadata),
        )  # fmt: skip


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value)
