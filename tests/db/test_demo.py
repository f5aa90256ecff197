"""The Burgas demo and the scale seeder on real PostGIS: determinism, counts, plausibility, reloads."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import pytest
import shapely
from pyproj import Geod

from atlas4d.demo import build_burgas, load_burgas, seed_scale
from atlas4d.demo.burgas_map import AREA, ROUTES
from atlas4d.demo.network import SEVERITY
from atlas4d.demo.scale import BOX
from atlas4d.demo.vehicles import MAX_SPEED_MS, SAMPLE_S

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GEOD = Geod(ellps="WGS84")

OBSERVATION_ROWS = """
SELECT o.t, o.entity_id, o.track_id, o.source_type, ST_X(o.geom) AS x, ST_Y(o.geom) AS y, o.lon, o.lat,
       o.altitude_m, o.speed_ms, o.heading_deg, o.metadata
FROM atlas4d.observations_core o JOIN atlas4d.entities e ON e.id = o.entity_id
WHERE e.properties @> '{"scenario": "burgas"}'
ORDER BY o.entity_id, o.t
"""
ANOMALY_ROWS = """
SELECT a.anomaly_type, a.severity, a.score, a.detected_at, a.metadata, o.entity_id, o.t, o.metadata AS obs
FROM atlas4d.anomalies a JOIN atlas4d.observations_core o ON o.id = a.observation_id
ORDER BY o.entity_id, o.t
"""


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "observations": [tuple(r) for r in await conn.fetch(OBSERVATION_ROWS)],
        "anomalies": [tuple(r) for r in await conn.fetch(ANOMALY_ROWS)],
        "entities": [
            tuple(r) for r in await conn.fetch("SELECT id, kind, name, source_type, properties FROM atlas4d.entities ORDER BY id")
        ],
        "tracks": [
            tuple(r)
            for r in await conn.fetch(
                "SELECT id, entity_id, start_time, end_time, point_count, round(length_m::numeric, 3) "
                "FROM atlas4d.tracks ORDER BY id"
            )
        ],
    }  # fmt: skip


def test_build_is_pure_and_seeded() -> None:
    a, b, c = build_burgas(42, END), build_burgas(42, END), build_burgas(43, END)
    assert a == b
    assert a.observations != c.observations
    assert [e.id for e in a.entities] == [e.id for e in c.entities]  # entity ids never depend on the seed
    shifted = build_burgas(42, END + timedelta(hours=5))
    assert [(o.lon, o.lat) for o in shifted.observations] == [(o.lon, o.lat) for o in a.observations]
    assert shifted.observations[0].t == a.observations[0].t + timedelta(hours=5)


def test_naive_end_is_refused() -> None:
    with pytest.raises(Exception, match="time zone"):
        build_burgas(42, datetime(2026, 1, 1))


async def test_load_is_deterministic_and_idempotent(clean_db: asyncpg.Pool) -> None:
    async with clean_db.acquire() as conn:
        other = await conn.fetchval(
            "INSERT INTO atlas4d.observations_core (t, geom, source_type, lat, lon) "
            "VALUES (now(), ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), 'sensor', 42.5, 27.5) RETURNING id"
        )
        first = await load_burgas(conn, seed=42, end=END)
        before = await snapshot(conn)
        second = await load_burgas(conn, seed=42, end=END)
        after = await snapshot(conn)
        assert second.replaced_observations == first.observations
        assert before == after
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core") == first.observations + 1
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.anomalies") == first.anomalies
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core WHERE id = $1", other) == 1
        reseeded = await load_burgas(conn, seed=7, end=END)
        changed = await snapshot(conn)
        assert changed["observations"] != after["observations"]
        assert changed["entities"] != after["entities"]  # plates and node positions follow the seed
        assert [e[0] for e in changed["entities"]] == [e[0] for e in after["entities"]]
        assert len(changed["tracks"]) == reseeded.tracks  # the old seed's tracks are gone
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.anomalies") == reseeded.anomalies


async def test_counts(clean_db: asyncpg.Pool) -> None:
    async with clean_db.acquire() as conn:
        summary = await load_burgas(conn, seed=42, end=END)
        kinds = dict(await conn.fetch("SELECT kind, count(*) FROM atlas4d.entities GROUP BY kind"))
        assert kinds == {"vehicle": 24, "olt": 3, "switch": 5, "cpe": 20}
        assert (summary.entities, summary.vehicles, summary.network_nodes) == (52, 24, 28)
        assert summary.network_observations == 28 * 24 * 12  # every node every 5 minutes for 24 h
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core") == summary.observations
        assert summary.vehicle_observations > 10_000
        tracks = await conn.fetchval("SELECT count(DISTINCT track_id) FROM atlas4d.observations_core")
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.tracks") == tracks == summary.tracks
        types = dict(await conn.fetch("SELECT anomaly_type, count(*) FROM atlas4d.anomalies GROUP BY 1"))
        assert types == {t: 3 for t in SEVERITY}
        names = {r[0] for r in await conn.fetch("SELECT name FROM atlas4d.entities WHERE kind <> 'vehicle'")}
        assert {"OLT-Burgas-Central", "OLT-Burgas-South", "OLT-Burgas-North", "SW-005", "CPE-0020"} <= names


async def test_plausible_movement(clean_db: asyncpg.Pool) -> None:
    async with clean_db.acquire() as conn:
        await load_burgas(conn, seed=42, end=END)
        rows = await conn.fetch(
            "SELECT track_id, t, ST_X(geom) AS x, ST_Y(geom) AS y, lon, lat, speed_ms, heading_deg "
            "FROM atlas4d.observations_core WHERE source_type = 'vehicle' ORDER BY track_id, t"
        )
        bounds = await conn.fetchrow(
            "SELECT min(t), max(t), ST_Extent(geom)::text FROM atlas4d.observations_core"
        )
    assert bounds is not None
    assert END - timedelta(hours=24) <= bounds[0] and bounds[1] < END
    assert bounds[1] - bounds[0] > timedelta(hours=22)  # spread over the day, not bunched
    x, y = np.array([r["x"] for r in rows]), np.array([r["y"] for r in rows])
    assert ((AREA[0] <= x) & (x <= AREA[2]) & (AREA[1] <= y) & (y <= AREA[3])).all()
    assert all(r["lon"] == r["x"] and r["lat"] == r["y"] for r in rows)
    roads = shapely.MultiLineString([list(r.points) for r in ROUTES])
    off_road = shapely.distance(shapely.points(x, y), roads)
    assert off_road.max() < 0.0002  # ~20 m: every vehicle position is on one of the roads
    speed = np.array([r["speed_ms"] for r in rows])
    assert speed.min() > 0 and speed.max() <= MAX_SPEED_MS
    same = np.array([a["track_id"] == b["track_id"] for a, b in itertools.pairwise(rows)])
    dt = np.array([(b["t"] - a["t"]).total_seconds() for a, b in itertools.pairwise(rows)])[same]
    assert (dt == SAMPLE_S).all()
    az, _, dist = GEOD.inv(x[:-1][same], y[:-1][same], x[1:][same], y[1:][same])
    assert (dist <= speed[:-1][same] * SAMPLE_S * 1.01 + 0.5).all()  # never faster than reported
    assert (dist >= speed[:-1][same] * SAMPLE_S * 0.5).all()  # and actually moving at about that speed
    heading = np.array([r["heading_deg"] for r in rows])[:-1][same]
    off = np.abs((az % 360 - heading + 180) % 360 - 180)
    assert np.mean(off < 10) > 0.9  # heading follows the road (corners excepted)


async def test_network_anomalies_show_in_their_observations(clean_db: asyncpg.Pool) -> None:
    async with clean_db.acquire() as conn:
        await load_burgas(conn, seed=42, end=END)
        anomalies = await conn.fetch(ANOMALY_ROWS)
        static = await conn.fetchval(
            "SELECT count(*) FROM (SELECT entity_id FROM atlas4d.observations_core WHERE track_id IS NULL "
            "GROUP BY entity_id HAVING count(DISTINCT geom) > 1) moved"
        )
        normal = await conn.fetch(
            "SELECT metadata FROM atlas4d.observations_core WHERE source_type IN ('olt', 'switch', 'cpe') "
            "AND id NOT IN (SELECT observation_id FROM atlas4d.anomalies) LIMIT 500"
        )
    assert static == 0  # network nodes stay put
    assert len(anomalies) == 15
    for a in anomalies:
        obs, kind = a["obs"], a["anomaly_type"]
        low, high = SEVERITY[kind]
        assert low <= a["severity"] <= high and 0 <= a["score"] <= 1
        assert a["t"] <= a["detected_at"] < END
        assert (
            a["metadata"]["node_id"] == str(a["entity_id"]) and a["metadata"]["node_type"] == obs["node_type"]
        )
        shows = {
            "link_down": obs["status"] == "down" and obs["throughput_gbps"] == 0,
            "high_latency": (obs["latency_ms"] or 0) > 30,
            "packet_loss": obs["packet_loss_pct"] >= 1,
            "congestion": obs["utilization_pct"] >= 90,
            "power_warning": obs["rx_power_dbm"] < -27,
        }
        assert shows[kind], (kind, obs)
    for r in normal:
        m = r["metadata"]
        assert {"throughput_gbps", "latency_ms", "packet_loss_pct", "rx_power_dbm", "utilization_pct"} <= set(
            m
        )


async def test_seed_scale_small(clean_db: asyncpg.Pool) -> None:
    end = datetime(2026, 2, 1, tzinfo=UTC)
    written: list[int] = []
    summary = await seed_scale(
        clean_db, observations=5003, entities=20, days=2, seed=7, progress=written.append, end=end
    )
    assert sum(written) == 5003 and summary.observations == 5003
    assert summary.tracks == 40
    async with clean_db.acquire() as conn:
        stats = await conn.fetchrow(
            "SELECT count(*) AS n, min(t) AS t0, max(t) AS t1, min(ST_X(geom)) AS x0, max(ST_X(geom)) AS x1, "
            "min(ST_Y(geom)) AS y0, max(ST_Y(geom)) AS y1, count(DISTINCT entity_id) AS e, "
            "count(DISTINCT source_type) AS s FROM atlas4d.observations_core"
        )
        assert stats is not None
        assert (stats["n"], stats["e"], stats["s"]) == (5003, 20, 3)
        assert end - timedelta(days=2) <= stats["t0"] and stats["t1"] < end
        assert (
            BOX[0] <= stats["x0"]
            and stats["x1"] <= BOX[2]
            and BOX[1] <= stats["y0"]
            and stats["y1"] <= BOX[3]
        )
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.tracks") == 40
        assert await conn.fetchval("SELECT sum(point_count) FROM atlas4d.tracks") == 5003
        rows = await conn.fetch(
            "SELECT track_id, t, ST_X(geom) AS x, ST_Y(geom) AS y, speed_ms FROM atlas4d.observations_core "
            "ORDER BY track_id, t"
        )
        first = [tuple(r) for r in rows]
        # reported speed is the speed of the move to the next sample
        for a, b in itertools.pairwise(rows):
            if a["track_id"] == b["track_id"]:
                _, _, d = GEOD.inv(a["x"], a["y"], b["x"], b["y"])
                assert d / (b["t"] - a["t"]).total_seconds() == pytest.approx(
                    a["speed_ms"], rel=0.02, abs=0.05
                )
        # the same seed again replaces its rows, on a single connection as on a pool
        again = await seed_scale(conn, observations=5003, entities=20, days=2, seed=7, end=end)
        assert again.observations == 5003
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 5003
        assert [tuple(r) for r in await conn.fetch(
            "SELECT track_id, t, ST_X(geom) AS x, ST_Y(geom) AS y, speed_ms FROM atlas4d.observations_core "
            "ORDER BY track_id, t"
        )] == first  # fmt: skip
        await seed_scale(conn, observations=100, entities=3, days=1, seed=8, end=end)
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 5103
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.entities") == 23


async def test_seed_scale_refuses_nonsense(clean_db: asyncpg.Pool) -> None:
    with pytest.raises(Exception, match="entities >= 1"):
        await seed_scale(clean_db, observations=10, entities=0, days=1, seed=1)
