"""The REST face answers the original's clients as the original did, on the original's kind of data: its lenient
parameters (SDK calls such as `observations.list(lat=42.5)` got 200s), JSON for every error (its curl script
pipes everything through jq), and its ingest body. The deliberate differences are asserted too, as documented
in docs/core-spec-compat.md."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from compat_db import OriginalDatabase
from pyproj import Geod

from atlas4d.app import create_app
from atlas4d.settings import Settings

GEOD = Geod(ellps="WGS84")
CENTER = (27.46, 42.5)


async def ids(client: httpx.AsyncClient, path: str = "/api/observations", **params: Any) -> list[int]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()]


def assert_json_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status_code"] == status
    assert body["error"]["code"] == code
    assert body["detail"] == body["error"]["message"]
    assert response.headers["x-request-id"]
    return body


async def test_lat_or_lon_alone_means_no_spatial_filter(compat: httpx.AsyncClient) -> None:
    everything = await ids(compat, limit=1000)
    assert len(everything) > 500
    assert await ids(compat, lat=42.5, limit=1000) == everything  # the SDK's observations.list(lat=42.5)
    assert await ids(compat, lon=27.5, radius_km=1, limit=1000) == everything
    assert len(await ids(compat, lat=42.5, lon=27.46, radius_km=1, limit=1000)) < len(everything)


async def test_limit_zero_is_empty_and_large_limits_are_cut(
    compat: httpx.AsyncClient, original_db: OriginalDatabase, settings: Settings
) -> None:
    assert await ids(compat, limit=0) == []
    assert await ids(compat, "/api/anomalies", limit=0) == []
    assert (await compat.get("/api/geojson/observations", params={"limit": 0})).json()["features"] == []
    small = create_app(settings.model_copy(update={"max_page_size": 7}), dsn=original_db.url, modules=[])
    transport = httpx.ASGITransport(app=small)
    async with (
        small.router.lifespan_context(small),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        assert len(await ids(c, limit=20_000)) == 7
        assert len(await ids(c, "/api/anomalies", limit=20_000)) == 7
        features = (await c.get("/api/geojson/observations", params={"limit": 10**12})).json()["features"]
        assert len(features) == 7
    assert_json_error(await compat.get("/api/observations", params={"limit": -1}), 400, "BAD_USER_INPUT")


def window(data: Any, hours: float) -> tuple[set[int], set[int]]:
    """(ids that must be in an `hours` window, ids that may be): the server's clock is later than the seed's
    by the time the session has run, so rows that crossed the window's edge since may be either side."""
    drift = datetime.now(UTC) - data.now + timedelta(seconds=5)
    start = data.now - timedelta(hours=hours)
    must = {o.id for o in data.observations if o.t >= start + drift}
    may = {o.id for o in data.observations if o.t >= start}
    return must, may


async def test_hours_window_like_the_original(
    compat: httpx.AsyncClient, original_db: OriginalDatabase
) -> None:
    data = original_db.data
    # every seed row is in the past: a window starting now or later is empty, as `t > now() - hours` was
    assert await ids(compat, hours=0) == []
    assert await ids(compat, hours=-5) == []
    assert await ids(compat, "/api/anomalies", hours=0) == []
    for hours in (2, 1.5):  # fractional hours: a lenient superset of the original's integers
        must, may = window(data, hours)
        assert must <= set(await ids(compat, hours=hours, limit=1000)) <= may
        assert len(must) > 10
    assert len(await ids(compat, hours=10**9, limit=1000)) == len(data.observations)
    body = assert_json_error(
        await compat.get("/api/observations", params={"hours": "abc"}), 400, "BAD_USER_INPUT"
    )
    assert body["error"]["field"] == "hours"


async def test_severity_min_any_integer(compat: httpx.AsyncClient, original_db: OriginalDatabase) -> None:
    window = [a for a in original_db.data.anomalies if a.detected_at is not None]
    with_severity = {a.id for a in window if a.severity is not None}
    assert set(await ids(compat, "/api/anomalies", severity_min=0, hours=48, limit=1000)) == with_severity
    assert set(await ids(compat, "/api/anomalies", severity_min=-3, hours=48, limit=1000)) == with_severity
    assert await ids(compat, "/api/anomalies", severity_min=9, hours=48) == []
    four_up = {a.id for a in window if a.severity is not None and a.severity >= 4}
    assert set(await ids(compat, "/api/anomalies", severity_min=4, hours=48, limit=1000)) == four_up


async def test_radius_km(compat: httpx.AsyncClient, original_db: OriginalDatabase) -> None:
    for radius in (0, -1, -0.5):
        assert await ids(compat, lat=CENTER[1], lon=CENTER[0], radius_km=radius) == []
    located = [o for o in original_db.data.observations if o.position is not None]
    # beyond half the Earth every located row is within reach (the original took any radius)
    assert len(await ids(compat, lat=CENTER[1], lon=CENTER[0], radius_km=1e9, limit=1000)) == len(located)
    # fractional radii are exact (the original truncated 0.5 km to 0 through an integer parameter)
    within = {o.id for o in located if GEOD.inv(*CENTER, *o.position)[2] <= 500}  # type: ignore[misc]
    assert within
    assert set(await ids(compat, lat=CENTER[1], lon=CENTER[0], radius_km=0.5, limit=1000)) == within
    assert_json_error(
        await compat.get("/api/observations", params={"lat": 100, "lon": 27}), 400, "BAD_USER_INPUT"
    )


async def test_source_type_filters(compat: httpx.AsyncClient, original_db: OriginalDatabase) -> None:
    """A deliberate difference: Core Spec §2.3 and the SDK's `source_type` argument filter (the original
    ignored the parameter)."""
    cameras = {o.id for o in original_db.data.observations if o.source_type == "camera"}
    assert set(await ids(compat, source_type="camera", limit=1000)) == cameras


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/forecast", 404, "NOT_FOUND"),
        ("POST", "/api/forecast", 404, "NOT_FOUND"),
        ("POST", "/api/nlq/universal", 404, "NOT_FOUND"),
        ("POST", "/api/nlq/rag", 404, "NOT_FOUND"),
        ("GET", "/nothing/here", 404, "NOT_FOUND"),
        ("DELETE", "/api/observations", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/api/stats", 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/health", 405, "METHOD_NOT_ALLOWED"),
    ],
)
async def test_every_error_is_json(
    compat: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    response = await compat.request(method, path, json={"lat": 42.5, "lon": 27.46})
    body = assert_json_error(response, status, code)
    # FastAPI's own texts, which the original's clients saw
    assert body["detail"] == ("Not Found" if status == 404 else "Method Not Allowed")
    if status == 405:
        assert "GET" in response.headers["allow"]
        assert "GET" in body["error"]["allowed"]


@pytest.fixture
async def writes(original_db: OriginalDatabase) -> AsyncIterator[None]:
    yield
    await original_db.forget_test_rows()


async def test_ingest_body_of_the_original(compat: httpx.AsyncClient, writes: None) -> None:
    response = await compat.post(
        "/api/observations",
        json={"lat": "42.5", "lon": 27.46, "source_type": "demo", "metadata": {"demo": True}, "extra": 1},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "created" and isinstance(body["id"], int)
    row = next(
        r
        for r in (await compat.get("/api/observations", params={"limit": 5})).json()
        if r["id"] == body["id"]
    )
    assert (row["lat"], row["lon"], row["source_type"]) == (42.5, 27.46, "demo")
    default = (await compat.post("/api/observations", json={"lat": 42.5, "lon": 27.46})).json()
    assert default["status"] == "created"
    listed = (await compat.get("/api/observations", params={"source_type": "manual", "limit": 5})).json()
    assert default["id"] in [r["id"] for r in listed]
    body = assert_json_error(
        await compat.post("/api/observations", json={"lat": "north", "lon": 1}), 400, "BAD_USER_INPUT"
    )
    assert body["error"]["field"] == "lat"


ORIGIN = "http://map.example.org"


async def test_rest_is_open_to_every_origin_by_default(compat: httpx.AsyncClient) -> None:
    """The original allowed every origin on its REST API; with ATLAS4D_CORS_ORIGINS unset we do too (without
    credentials), while GraphQL stays same-origin."""
    for path in ("/health", "/api/stats", "/api/observations", "/api/geojson/observations", "/openapi.json"):
        response = await compat.get(path, headers={"Origin": ORIGIN})
        # any origin is allowed (web.cors echoes it, with Vary: Origin, as it does for `*`)
        assert response.headers["access-control-allow-origin"] in ("*", ORIGIN), path
        assert "access-control-allow-credentials" not in response.headers
    missing = await compat.get("/api/forecast", headers={"Origin": ORIGIN})
    assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] in ("*", ORIGIN)
    preflight = await compat.options(
        "/api/observations",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] in ("*", ORIGIN)
    assert "access-control-allow-credentials" not in preflight.headers
    assert "POST" in preflight.headers["access-control-allow-methods"]
    graphql = await compat.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": ORIGIN})
    assert graphql.status_code == 200 and "access-control-allow-origin" not in graphql.headers


async def test_the_app_wide_cors_setting_governs_rest_when_set(
    settings: Settings, original_db: OriginalDatabase
) -> None:
    allowed = "https://map.example.com"
    app = create_app(settings.model_copy(update={"cors_origins": [allowed]}), dsn=original_db.url, modules=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        ok = await c.get("/api/stats", headers={"Origin": allowed})
        assert ok.headers["access-control-allow-origin"] == allowed
        other = await c.get("/api/stats", headers={"Origin": ORIGIN})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
        graphql = await c.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": allowed})
        assert graphql.headers["access-control-allow-origin"] == allowed
