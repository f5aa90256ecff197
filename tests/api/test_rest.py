"""The Core Spec v0.3 REST endpoints on real PostGIS, through ASGI: shapes, semantics, bad input."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from pyproj import Geod
from starlette.applications import Starlette

from atlas4d.db.pool import create_pool
from atlas4d.rest import routes
from atlas4d.settings import Settings

CENTER = (27.47, 42.50)
GEOD = Geod(ellps="WGS84")
OBSERVATION_KEYS = {"id", "t", "lat", "lon", "source_type", "speed_ms", "heading_deg"}
ANOMALY_KEYS = {
    "id", "anomaly_type", "severity", "score", "detected_at", "lat", "lon", "source_type", "observation_id",
    "metadata",
}  # fmt: skip


def offset(km_north: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(CENTER[0], CENTER[1], 0, km_north * 1000)
    return lon, lat


@dataclass
class Seeded:
    now: datetime
    ids: dict[str, int]


@pytest.fixture
async def seeded(clean_db: asyncpg.Pool) -> Seeded:
    """A at the centre 1 h ago, B 5 km north 2 h ago, C 20 km north 3 h ago, E geometry-only 4 h ago,
    D at the centre 30 h ago (outside the default 24 h); anomalies on A, on D, and one with no observation."""
    now = datetime.now(UTC).replace(microsecond=0)
    rows = {
        "A": (now - timedelta(hours=1), CENTER, "vehicle", 10.0, 90.0, True),
        "B": (now - timedelta(hours=2), offset(5), "sensor", None, None, True),
        "C": (now - timedelta(hours=3), offset(20), "vehicle", 20.0, 180.0, True),
        "E": (now - timedelta(hours=4), CENTER, "camera", None, None, False),
        "D": (now - timedelta(hours=30), CENTER, "vehicle", 5.0, 0.0, True),
    }
    ids: dict[str, int] = {}
    async with clean_db.acquire() as conn:
        for name, (t, (lon, lat), source, speed, heading, convenience) in rows.items():
            ids[name] = await conn.fetchval(
                "INSERT INTO atlas4d.observations_core "
                "(t, geom, source_type, lat, lon, speed_ms, heading_deg) "
                "VALUES ($1, ST_SetSRID(ST_MakePoint($2, $3), 4326), $4, $5, $6, $7, $8) RETURNING id",
                t, lon, lat, source, lat if convenience else None, lon if convenience else None,
                speed, heading,
            )  # fmt: skip
        await conn.executemany(
            "INSERT INTO atlas4d.anomalies "
            "(observation_id, anomaly_type, severity, score, detected_at, metadata) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (ids["A"], "speed_spike", 4, 0.9, now - timedelta(minutes=50), {"why": "fast"}),
                (ids["D"], "unusual_route", 5, 0.8, now - timedelta(hours=29), {}),
                (None, "pattern_deviation", 1, 0.2, now - timedelta(hours=5), {}),
            ],
        )
    return Seeded(now, ids)


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["detail"] == body["error"]["message"]
    assert body["status_code"] == status
    if field is not None:
        assert body["error"]["field"] == field
    for leak in ("Traceback", "SELECT", "asyncpg", "observations_core"):
        assert leak not in response.text


async def test_health_reports_healthy_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "postgres", "redis", "version", "core_spec"}
    assert (body["status"], body["postgres"], body["redis"]) == ("healthy", "healthy", "not connected")
    assert body["core_spec"] == "0.3"
    assert response.headers["x-request-id"]


@pytest.fixture
async def unreachable_app() -> AsyncIterator[Starlette]:
    """The REST routes over a pool whose server does not exist (port 1 refuses connections)."""
    settings = Settings(database_url=None, pool_min_size=0)
    pool = await asyncpg.create_pool("postgresql://postgres@127.0.0.1:1/none", min_size=0, max_size=1)
    app = Starlette(routes=routes())
    app.state.pool, app.state.settings = pool, settings
    yield app
    await pool.close()


async def test_database_down_gives_503_not_500(unreachable_app: Starlette) -> None:
    transport = httpx.ASGITransport(app=unreachable_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        health = await c.get("/health")
        assert health.status_code == 200  # the process serves; the body says what is wrong (as the original)
        assert health.json()["status"] == "degraded"
        assert health.json()["postgres"] == "unhealthy"
        for path in ("/api/stats", "/api/observations", "/api/anomalies", "/api/geojson/observations"):
            assert_error(await c.get(path), 503, "DATABASE_UNAVAILABLE")


async def test_unexpected_error_is_masked_with_request_id(database_url: str) -> None:
    # a database without the atlas4d schema: the statement fails in a way no mapping covers
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    pool = await create_pool(Settings(database_url=None, pool_min_size=1, pool_max_size=1), admin_url)
    app = Starlette(routes=routes())
    app.state.pool, app.state.settings = pool, Settings(database_url=None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            response = await c.get("/api/stats", headers={"X-Request-ID": "req-42"})
    finally:
        await pool.close()
    assert_error(response, 500, "INTERNAL")
    assert response.json()["error"]["request_id"] == "req-42"
    assert response.headers["x-request-id"] == "req-42"
    assert "relation" not in response.text


async def test_stats_shape_and_counts(client: httpx.AsyncClient, seeded: Seeded) -> None:
    body = (await client.get("/api/stats")).json()
    assert set(body) == {"total_observations", "total_anomalies", "sources", "last_observation"}
    assert body["total_observations"] == 5
    assert body["total_anomalies"] == 3
    assert body["sources"] == {"vehicle": 3, "sensor": 1, "camera": 1}
    assert datetime.fromisoformat(body["last_observation"]) == seeded.now - timedelta(hours=1)


async def test_stats_on_empty_database(client: httpx.AsyncClient, clean_db: asyncpg.Pool) -> None:
    body = (await client.get("/api/stats")).json()
    assert body == {"total_observations": 0, "total_anomalies": 0, "sources": {}, "last_observation": None}


async def test_observations_default_window_newest_first(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.get("/api/observations")
    assert response.status_code == 200
    rows = response.json()
    assert [r["id"] for r in rows] == [seeded.ids[k] for k in "ABCE"]  # D is 30 h old
    assert all(set(r) == OBSERVATION_KEYS for r in rows)
    a = rows[0]
    assert (a["lon"], a["lat"], a["source_type"], a["speed_ms"], a["heading_deg"]) == (
        *CENTER,
        "vehicle",
        10,
        90,
    )
    assert datetime.fromisoformat(a["t"]) == seeded.now - timedelta(hours=1)
    e = rows[3]  # lat/lon columns are null: taken from the geometry
    assert (e["lon"], e["lat"]) == pytest.approx(CENTER)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"lat": CENTER[1], "lon": CENTER[0]}, "ABE"),  # default radius 10 km
        ({"lat": CENTER[1], "lon": CENTER[0], "radius_km": 3}, "AE"),
        ({"lat": CENTER[1], "lon": CENTER[0], "radius_km": 25}, "ABCE"),
        ({"lat": CENTER[1], "lon": CENTER[0], "radius_km": 25, "hours": 48}, "ABCED"),
        ({"hours": 1.5}, "A"),
        ({"source_type": "vehicle"}, "AC"),
        ({"source_type": ["sensor", "camera"]}, "BE"),
        ({"limit": 2}, "AB"),
    ],
)
async def test_observation_filters(
    client: httpx.AsyncClient, seeded: Seeded, query: dict[str, object], expected: str
) -> None:
    response = await client.get("/api/observations", params=query)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()] == [seeded.ids[k] for k in expected]


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"lat": "abc", "lon": 27}, "BAD_USER_INPUT", "lat"),
        ({"lat": 95, "lon": 27}, "BAD_USER_INPUT", "lat"),
        ({"lat": 42, "lon": 181}, "BAD_USER_INPUT", "lon"),
        # lenient like the original (200s, tests/compat/test_rest_compat.py): lat or lon alone, radius <= 0 or
        # beyond the Earth, hours <= 0 or huge, limit 0 or above the maximum
        ({"lat": 42, "lon": 27, "radius_km": "nan"}, "BAD_USER_INPUT", "radius_km"),
        ({"hours": "inf"}, "BAD_USER_INPUT", "hours"),
        ({"hours": "x"}, "BAD_USER_INPUT", "hours"),
        ({"limit": 1.5}, "BAD_USER_INPUT", "limit"),
        ({"limit": -1}, "BAD_USER_INPUT", "limit"),
        ({"source_type": "gps\u0000"}, "BAD_USER_INPUT", "source_type"),
    ],
)
@pytest.mark.parametrize("path", ["/api/observations", "/api/geojson/observations"])
async def test_observation_bad_params_are_400(
    client: httpx.AsyncClient, path: str, query: dict[str, object], code: str, field: str
) -> None:
    assert_error(await client.get(path, params=query), 400, code, field)  # type: ignore[arg-type]


async def test_geojson_feature_collection(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.get("/api/geojson/observations", params={"hours": 48})
    assert response.status_code == 200
    doc = response.json()
    assert set(doc) == {"type", "features"} and doc["type"] == "FeatureCollection"
    features = doc["features"]
    assert [f["properties"]["id"] for f in features] == [seeded.ids[k] for k in "ABCED"]
    first = features[0]
    assert first["type"] == "Feature"
    assert first["geometry"] == {"type": "Point", "coordinates": list(CENTER)}
    assert first["properties"] == {
        "id": seeded.ids["A"],
        "time": first["properties"]["time"],
        "source_type": "vehicle",
        "speed_ms": 10,
    }
    assert datetime.fromisoformat(first["properties"]["time"]) == seeded.now - timedelta(hours=1)
    north = features[1]["geometry"]["coordinates"]
    assert north == pytest.approx(list(offset(5)))


async def test_geojson_limit_filters_and_empty(client: httpx.AsyncClient, seeded: Seeded) -> None:
    near = {"lat": CENTER[1], "lon": CENTER[0], "radius_km": 3, "limit": 1}
    features = (await client.get("/api/geojson/observations", params=near)).json()["features"]
    assert [f["properties"]["id"] for f in features] == [seeded.ids["A"]]
    empty = (await client.get("/api/geojson/observations", params={"source_type": "nothing"})).json()
    assert empty == {"type": "FeatureCollection", "features": []}


async def test_anomalies_shape_window_and_severity(client: httpx.AsyncClient, seeded: Seeded) -> None:
    rows = (await client.get("/api/anomalies")).json()
    assert all(set(r) == ANOMALY_KEYS for r in rows)
    assert [r["anomaly_type"] for r in rows] == ["speed_spike", "pattern_deviation"]  # D's is 29 h old
    spike, orphan = rows
    assert (spike["lon"], spike["lat"], spike["source_type"]) == (*CENTER, "vehicle")
    assert (spike["severity"], spike["score"], spike["observation_id"]) == (4, 0.9, seeded.ids["A"])
    assert spike["metadata"] == {"why": "fast"}
    assert (orphan["lat"], orphan["lon"], orphan["source_type"], orphan["observation_id"]) == (None,) * 4
    severe = (await client.get("/api/anomalies", params={"severity_min": 4, "hours": 48})).json()
    assert [r["anomaly_type"] for r in severe] == ["speed_spike", "unusual_route"]
    typed = (await client.get("/api/anomalies", params={"anomaly_type": "unusual_route", "hours": 48})).json()
    assert [r["severity"] for r in typed] == [5]
    assert len((await client.get("/api/anomalies", params={"limit": 1})).json()) == 1


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"severity_min": "high"}, "BAD_USER_INPUT", "severity_min"),
        ({"hours": "x"}, "BAD_USER_INPUT", "hours"),
        ({"limit": -1}, "BAD_USER_INPUT", "limit"),
        ({"anomaly_type": "x\u0000"}, "BAD_USER_INPUT", "anomaly_type"),
    ],
)
async def test_anomalies_bad_params(
    client: httpx.AsyncClient, query: dict[str, object], code: str, field: str
) -> None:
    assert_error(await client.get("/api/anomalies", params=query), 400, code, field)  # type: ignore[arg-type]


async def test_post_observation_like_the_original(client: httpx.AsyncClient, clean_db: asyncpg.Pool) -> None:
    before = datetime.now(UTC)
    response = await client.post(
        "/api/observations", json={"lat": 42.5, "lon": 27.46, "metadata": {"demo": True}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "status"} and body["status"] == "created"
    row = await clean_db.fetchrow(
        "SELECT t, source_type, ST_X(geom) AS x, ST_Y(geom) AS y, lat, lon, metadata "
        "FROM atlas4d.observations_core WHERE id = $1",
        body["id"],
    )
    assert row is not None
    assert (row["x"], row["y"], row["lat"], row["lon"]) == (27.46, 42.5, 42.5, 27.46)
    assert row["source_type"] == "manual" and row["metadata"] == {"demo": True}
    assert before - timedelta(seconds=1) <= row["t"] <= datetime.now(UTC) + timedelta(seconds=1)
    listed = (await client.get("/api/observations")).json()
    assert [r["id"] for r in listed] == [body["id"]]


async def test_post_with_time_entity_and_track(client: httpx.AsyncClient, clean_db: asyncpg.Pool) -> None:
    entity, track = uuid.uuid4(), uuid.uuid4()
    items = [
        {"lat": 42.5, "lon": 27.46 + i / 1000, "t": f"2026-01-01T10:0{i}:00+02:00", "source_type": "gps",
         "entity_id": str(entity), "track_id": str(track), "speed_ms": 12.5, "heading_deg": 90,
         "altitude_m": 5, "unknown_key": "ignored"}
        for i in range(3)
    ]  # fmt: skip
    response = await client.post("/api/observations", json=items)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 3 and body["status"] == "created"
    rows = await clean_db.fetch(
        "SELECT id, t, lon FROM atlas4d.observations_core WHERE id = ANY($1::bigint[]) ORDER BY id",
        body["ids"],
    )
    assert [r["id"] for r in rows] == body["ids"]
    assert [r["lon"] for r in rows] == pytest.approx([27.46, 27.461, 27.462])  # ids follow input order
    assert rows[0]["t"] == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    kind = await clean_db.fetchval("SELECT kind FROM atlas4d.entities WHERE id = $1", entity)
    assert kind == "unknown"
    track_row = await clean_db.fetchrow(
        "SELECT entity_id, point_count FROM atlas4d.tracks WHERE id = $1", track
    )
    assert track_row is not None and tuple(track_row) == (entity, 3)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"lon": 27.46}, "BAD_USER_INPUT", "lat"),
        ({"lat": 200, "lon": 27.46}, "BAD_USER_INPUT", "lat"),
        ({"lat": "north", "lon": 27.46}, "BAD_USER_INPUT", "lat"),
        ({"lat": 42, "lon": 27, "speed_ms": -1}, "BAD_USER_INPUT", "speed_ms"),
        ({"lat": 42, "lon": 27, "heading_deg": 400}, "BAD_USER_INPUT", "heading_deg"),
        ({"lat": 42, "lon": 27, "metadata": [1, 2]}, "BAD_USER_INPUT", "metadata"),
        ({"lat": 42, "lon": 27, "t": "2026-01-01T10:00:00"}, "BAD_USER_INPUT", "t"),
        ({"lat": 42, "lon": 27, "t": "yesterday"}, "BAD_USER_INPUT", "t"),
        ({"lat": 42, "lon": 27, "entity_id": "not-a-uuid"}, "BAD_USER_INPUT", "entity_id"),
        ({"lat": 42, "lon": 27, "source_type": ""}, "BAD_USER_INPUT", "source_type"),
        ({"lat": 42, "lon": 27, "source_type": "gps\u0000"}, "BAD_USER_INPUT", "source_type"),
        ({"lat": 42, "lon": 27, "metadata": {"a": ["b\u0000"]}}, "BAD_USER_INPUT", "metadata"),
        ({"lat": 42, "lon": 27, "metadata": {"\u0000": 1}}, "BAD_USER_INPUT", "metadata"),
        ({"lat": 42, "lon": 27, "t": "0001-01-01T00:00:00+01:00"}, "BAD_USER_INPUT", "t"),
        ({"lat": 42, "lon": 27, "t": "9999-12-31T23:59:59-01:00"}, "BAD_USER_INPUT", "t"),
        ("just a string", "BAD_USER_INPUT", "body"),
        ([], "BAD_USER_INPUT", "body"),
        ([{"lat": 42, "lon": 27}, {"lat": 42, "lon": -999}], "INVALID_ITEM", "lon"),
    ],
)
async def test_post_bad_input_stores_nothing(
    client: httpx.AsyncClient, clean_db: asyncpg.Pool, body: object, code: str, field: str
) -> None:
    response = await client.post("/api/observations", json=body)
    assert_error(response, 400, code, field)
    if isinstance(body, list) and body:
        assert response.json()["error"]["index"] == 1
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0


async def test_post_invalid_json_and_oversized(client: httpx.AsyncClient, clean_db: asyncpg.Pool) -> None:
    bad = await client.post(
        "/api/observations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(bad, 400, "BAD_USER_INPUT", "body")
    too_many = [{"lat": 42, "lon": 27}] * 10_001
    assert_error(await client.post("/api/observations", json=too_many), 400, "BATCH_TOO_LARGE")
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0
