"""The Core Spec endpoints over the Burgas demo: what an original Atlas4D client sees, and that each
endpoint answers with a single SQL statement (the GeoJSON document is built by PostGIS, not in Python)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from atlas4d.db.pool import log_statements
from atlas4d.demo import DemoSummary, load_burgas
from atlas4d.demo.burgas_map import AREA, OLTS
from atlas4d.demo.network import ANOMALY_TYPES


@pytest.fixture
async def demo(clean_db: asyncpg.Pool) -> DemoSummary:
    async with clean_db.acquire() as conn:
        return await load_burgas(conn, seed=42)  # ends this hour, so the default 24 h window sees it


def inside(lon: float, lat: float) -> bool:
    return AREA[0] <= lon <= AREA[2] and AREA[1] <= lat <= AREA[3]


PATHS = (
    "/health",
    "/api/stats",
    "/api/observations?lat=42.5&lon=27.47&radius_km=5&source_type=vehicle",
    "/api/anomalies?severity_min=2",
    "/api/geojson/observations?limit=2000",
)


async def test_each_endpoint_is_one_statement(client: httpx.AsyncClient, demo: DemoSummary) -> None:
    for path in PATHS:
        with log_statements() as log:
            response = await client.get(path)
        assert response.status_code == 200, response.text
        assert len(log) == 1, (path, log.statements)


async def test_stats_over_the_demo(client: httpx.AsyncClient, demo: DemoSummary) -> None:
    stats = (await client.get("/api/stats")).json()
    assert stats["total_observations"] == demo.observations
    assert stats["total_anomalies"] == demo.anomalies == 15
    assert set(stats["sources"]) == {"vehicle", "olt", "switch", "cpe"}
    assert stats["sources"]["olt"] == 3 * 288 and sum(stats["sources"].values()) == demo.observations


async def test_olts_as_the_original_telecom_profile_queries_them(
    client: httpx.AsyncClient, demo: DemoSummary
) -> None:
    rows = (await client.get("/api/observations", params={"source_type": "olt", "limit": 1000})).json()
    assert rows and {r["source_type"] for r in rows} == {"olt"}
    assert {(r["lon"], r["lat"]) for r in rows} == {(lon, lat) for _, lon, lat, _, _ in OLTS}
    central = (
        await client.get(
            "/api/observations",
            params={"lat": 42.5048, "lon": 27.4626, "radius_km": 0.05, "source_type": "olt"},
        )
    ).json()
    assert len(central) == 100  # the default limit; one OLT within 50 m
    assert {(r["lon"], r["lat"]) for r in central} == {(27.4626, 42.5048)}


async def test_network_anomalies_over_rest(client: httpx.AsyncClient, demo: DemoSummary) -> None:
    rows = (await client.get("/api/anomalies", params={"hours": 48, "limit": 100})).json()
    assert len(rows) == 15
    assert {r["anomaly_type"] for r in rows} == set(ANOMALY_TYPES)
    assert all(r["source_type"] in {"olt", "switch", "cpe"} and inside(r["lon"], r["lat"]) for r in rows)
    assert [r["detected_at"] for r in rows] == sorted((r["detected_at"] for r in rows), reverse=True)
    severe = (await client.get("/api/anomalies", params={"hours": 48, "severity_min": 5})).json()
    assert {r["anomaly_type"] for r in severe} == {"link_down"}


async def test_vehicle_geojson(client: httpx.AsyncClient, demo: DemoSummary) -> None:
    doc = (
        await client.get("/api/geojson/observations", params={"source_type": "vehicle", "limit": 50})
    ).json()
    features = doc["features"]
    assert len(features) == 50
    assert all(f["geometry"]["type"] == "Point" and inside(*f["geometry"]["coordinates"]) for f in features)
    assert all(0 < f["properties"]["speed_ms"] <= 20 for f in features)
    times = [f["properties"]["time"] for f in features]
    assert times == sorted(times, reverse=True)
