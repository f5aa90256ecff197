"""Every method of the original SDK's `Client` and `AsyncClient` (original_sdk.py: its request shapes) against our
server as a real process over the original's kind of database. Each call must answer as the original's
clients expect (status, keys, values from the oracle); `ask`/`rag.query` is the one documented exception: the
RAG service is not part of the gateway, so it answers a JSON 404, which the SDK raises as an HTTP error."""

from __future__ import annotations

from typing import Any

import httpx
import original_sdk
import pytest
import requests
from compat_db import OriginalDatabase, Server
from original_sdk import AsyncClient, Client
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
OBSERVATION_KEYS = {"id", "t", "lat", "lon", "source_type", "speed_ms", "heading_deg"}
ANOMALY_KEYS = {"id", "anomaly_type", "severity", "score", "detected_at", "lat", "lon", "source_type"}
CENTER = (27.46, 42.5)


def near_ids(db: OriginalDatabase, radius_km: float) -> set[int]:
    return {
        o.id
        for o in db.data.observations
        if o.position is not None and GEOD.inv(*CENTER, *o.position)[2] <= radius_km * 1000
    }


def check_answers(db: OriginalDatabase, answers: dict[str, Any]) -> None:
    data = db.data
    health = answers["health"]
    assert {"status", "postgres", "redis", "version"} <= set(health)
    assert (health["status"], health["postgres"]) == ("healthy", "healthy")
    assert answers["stats"]["total_observations"] == len(data.observations)
    assert answers["stats"]["total_anomalies"] == len(data.anomalies)
    listed = answers["list"]
    assert len(listed) == 100 and all(set(r) >= OBSERVATION_KEYS for r in listed)
    assert [r["t"] for r in listed] == sorted((r["t"] for r in listed), reverse=True)
    assert answers["list_lat_only"] == listed  # lat without lon: no spatial filter, as the original
    assert {r["id"] for r in answers["list_near"]} == near_ids(db, 2.5)
    by_id = data.by_id()
    for r in answers["list_near"]:
        assert (r["lon"], r["lat"]) == by_id[r["id"]].position
    assert {r["source_type"] for r in answers["list_cameras"]} == {"camera"}
    assert len(answers["list_cameras"]) == sum(o.source_type == "camera" for o in data.observations)
    geojson = answers["geojson"]
    assert geojson["type"] == "FeatureCollection" and len(geojson["features"]) == 50
    assert answers["geojson_default"]["features"] and len(answers["geojson_default"]["features"]) == 100
    anomalies = answers["anomalies"]
    assert anomalies and all(set(a) >= ANOMALY_KEYS for a in anomalies)
    in_window = [a for a in data.anomalies if a.detected_at is not None and (a.severity or 0) >= 1]
    assert len(anomalies) == len(in_window)


def test_sync_client_every_method(compat_server: Server, original_db: OriginalDatabase) -> None:
    with Client(host=compat_server.host, port=compat_server.port) as client:
        answers = {
            "health": client.health(),
            "stats": client.stats(),
            "list": client.observations.list(),
            "list_lat_only": client.observations.list(lat=42.5),
            "list_near": client.observations.list(lat=CENTER[1], lon=CENTER[0], radius_km=2.5, limit=1000),
            "list_cameras": client.observations.list(source_type="camera", limit=1000),
            "geojson": client.observations.geojson(limit=50),
            "geojson_default": client.observations.geojson(),
            "anomalies": client.anomalies.list(hours=48),
        }
        check_answers(original_db, answers)
        for ask in (lambda: client.ask("How do I deploy Atlas4D?"), lambda: client.rag.query("x", top_k=1)):
            with pytest.raises(requests.HTTPError) as failure:
                ask()
            assert failure.value.response.status_code == 404
            assert failure.value.response.json()["detail"] == "Not Found"


async def test_async_client_every_method(compat_server: Server, original_db: OriginalDatabase) -> None:
    async with AsyncClient(host=compat_server.host, port=compat_server.port) as client:
        answers = {
            "health": await client.health(),
            "stats": await client.stats(),
            "list": await client.observations.list(),
            "list_lat_only": await client.observations.list(lat=42.5),
            "list_near": await client.observations.list(
                lat=CENTER[1], lon=CENTER[0], radius_km=2.5, limit=1000
            ),
            "list_cameras": await client.observations.list(source_type="camera", limit=1000),
            "geojson": await client.observations.geojson(limit=50),
            "geojson_default": await client.observations.geojson(),
            "anomalies": await client.anomalies.list(hours=48),
        }
        check_answers(original_db, answers)
        for ask in (lambda: client.ask("How do I deploy Atlas4D?"), lambda: client.rag.query("x", top_k=1)):
            with pytest.raises(httpx.HTTPStatusError) as failure:
                await ask()
            assert failure.value.response.status_code == 404
            assert failure.value.response.json()["error"]["code"] == "NOT_FOUND"
    assert client._client is None  # closed by the context manager


def test_client_reads_host_and_port_from_the_environment(
    compat_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS4D_HOST", compat_server.host)
    monkeypatch.setenv("ATLAS4D_PORT", str(compat_server.port))
    client = Client()
    try:
        assert client.health()["status"] == "healthy"
    finally:
        client.close()


# What the two tests above call, on both clients (close: through the context manager).
EXERCISED = {
    "health", "stats", "ask", "close", "observations.list", "observations.geojson", "anomalies.list", "rag.query",
}  # fmt: skip


def public_methods(client: object) -> set[str]:
    """The client's public methods, and those of the SDK objects it holds (`client.observations.list`)."""
    names = {n for n in dir(type(client)) if not n.startswith("_") and callable(getattr(client, n))}
    for attr, value in vars(client).items():
        if type(value).__module__ == original_sdk.__name__:
            names |= {f"{attr}.{n}" for n in dir(type(value)) if not n.startswith("_")}
    return names


def test_every_sdk_method_is_exercised() -> None:
    """A method added to original_sdk.py (from the original's documented API) fails here until a test above
    calls it."""
    assert public_methods(Client(host="127.0.0.1", port=9)) == EXERCISED
    assert public_methods(AsyncClient(host="127.0.0.1", port=9)) == EXERCISED
