"""anomalyDetected and trackUpdated over real WebSockets against `atlas4d serve`: each subscriber receives what
the matching query field (`anomalies(filter:)`, `tracks(filter:)`) answers for the rows written after it
subscribed — the live matcher runs the query path's own WHERE clauses, so the two agree by construction;
this checks that they do, in commit order, and that a bad filter is the query path's typed error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ws_client import Client, connect

from live_server import MODERN_ACCEPT, in_process

T0 = datetime(2026, 8, 1, tzinfo=UTC)
INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
OWN = "query($e: [ID!]) { observations(filter: {entityIds: $e}, first: 100) { nodes { id } } }"
RECORD = "mutation($a: [AnomalyInput!]!) { recordAnomalies(anomalies: $a) { id } }"
ANOMALIES = "subscription($f: AnomalyFilter) { anomalyDetected(filter: $f) { id anomalyType severity observationId } }"
TRACKS = "subscription($f: TrackFilter) { trackUpdated(filter: $f) { id pointCount entityId } }"
ANOMALY_FILTERS: list[dict[str, Any] | None] = [
    None,
    {"minSeverity": 3},
    {"types": ["speeding"], "minScore": 0.5},
    {"observations": {"bbox": {"minLon": 5.0, "minLat": 45.0, "maxLon": 6.0, "maxLat": 46.0}}},
    {"observations": {"near": {"lon": 7.0, "lat": 45.5, "radiusMeters": 2000}}, "minSeverity": 2},
]
TRACK_FILTERS: list[dict[str, Any] | None] = [
    None,
    {"bbox": {"minLon": 5.0, "minLat": 45.0, "maxLon": 6.0, "maxLat": 46.0}},
    {"near": {"lon": 7.0, "lat": 45.5, "radiusMeters": 2000}},
]


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with in_process(database_url) as base:
        yield base


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, headers=MODERN_ACCEPT, timeout=30) as c:
        yield c


async def gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    r = await http.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = r.json()
    assert r.status_code == 200 and "errors" not in body, r.text
    return body["data"]


async def drain(client: Client, field: str) -> dict[str, list[dict[str, Any]]]:
    """Every event up to the pong of a ping sent now, by subscription id (the caller waited for the hub)."""
    await client.send({"type": "ping"})
    out: dict[str, list[dict[str, Any]]] = {}
    while True:
        message = await client.recv()
        if message["type"] == "pong":
            return out
        assert message["type"] == "next" and "errors" not in message["payload"], message
        out.setdefault(message["id"], []).append(message["payload"]["data"][field])


async def ingest(
    http: httpx.AsyncClient, entity: str, track: str, lon: float, n: int, start: int
) -> list[str]:
    items = [
        {
            "time": (T0 + timedelta(seconds=start + i)).isoformat(),
            "lon": lon + i * 0.001,
            "lat": 45.5,
            "entityId": entity,
            "trackId": track,
        }
        for i in range(n)
    ]
    await gql(http, INGEST, {"o": items})
    nodes = (await gql(http, OWN, {"e": [entity]}))["observations"]["nodes"]
    return sorted((n["id"] for n in nodes), key=int)


async def test_anomalies_and_tracks_agree_with_the_query_fields(http: httpx.AsyncClient, server: str) -> None:
    entities = [str(uuid.uuid4()) for _ in range(3)]
    tracks = [str(uuid.uuid4()) for _ in range(3)]
    async with connect(server) as anomalies, connect(server) as live_tracks, connect(server) as sentinel:
        for client in (anomalies, live_tracks, sentinel):
            await client.init()
        for f in ANOMALY_FILTERS:
            await anomalies.subscribe(ANOMALIES, {"f": f})
        for f in TRACK_FILTERS:
            await live_tracks.subscribe(TRACKS, {"f": f})
        marker = str(uuid.uuid4())
        await sentinel.subscribe(TRACKS, {"f": {"ids": [marker]}})
        observations: list[str] = []
        for n, lon in enumerate((5.5, 7.0, 9.0)):  # in the box, near the centre, neither
            observations += await ingest(http, entities[n], tracks[n], lon, 3, 10 * n)
        await ingest(http, entities[0], tracks[0], 5.6, 2, 100)  # the first track grows again
        recorded = [
            {"observationId": o, "anomalyType": kind, "severity": sev, "score": score}
            for o, kind, sev, score in zip(
                observations,
                ["speeding", "loitering", "speeding", "speeding", "gap", "speeding", "speeding", "gap", "x"],
                [1, 3, 5, 2, 4, 3, 1, 2, 5],
                [0.9, 0.2, 0.6, 0.4, 0.7, 0.5, 0.1, 0.8, 0.3],
                strict=True,
            )
        ]
        created = [a["id"] for a in (await gql(http, RECORD, {"a": recorded}))["recordAnomalies"]]
        # the marker track commits last: once its event is out, every earlier notice has been handled
        await ingest(http, str(uuid.uuid4()), marker, 0.0, 1, 200)
        assert [m["payload"]["data"]["trackUpdated"]["id"] for m in await sentinel.events(1)] == [marker]
        got_anomalies = await drain(anomalies, "anomalyDetected")
        got_tracks = await drain(live_tracks, "trackUpdated")
    for n, f in enumerate(ANOMALY_FILTERS):
        query = "query($f: AnomalyFilter) { anomalies(filter: $f, first: 1000) { nodes { id } } }"
        answer = {a["id"] for a in (await gql(http, query, {"f": f}))["anomalies"]["nodes"]}
        expected = [a for a in created if a in answer]  # one statement: commit order is id order
        assert [e["id"] for e in got_anomalies.get(str(n + 1), [])] == expected, f
        assert expected or f is None or n > 0  # every filter but the last two picks something
    ours = [*tracks, marker]
    for n, f in enumerate(TRACK_FILTERS):
        query = "query($f: TrackFilter) { tracks(filter: $f, first: 1000) { nodes { id pointCount } } }"
        answer = {
            t["id"]: t for t in (await gql(http, query, {"f": f}))["tracks"]["nodes"] if t["id"] in ours
        }
        events = got_tracks.get(str(n + 1), [])
        assert {e["id"] for e in events} == set(answer), f
        latest = {e["id"]: e["pointCount"] for e in events}  # the last event of a track: its final state
        assert latest == {i: t["pointCount"] for i, t in answer.items()}, f
    assert {e["id"] for e in got_tracks["2"]} == {tracks[0]} and {e["id"] for e in got_tracks["3"]} == {
        tracks[1]
    }
    assert [e["pointCount"] for e in got_tracks["2"]][-1] == 5


async def test_bad_filters_are_the_query_fields_errors(http: httpx.AsyncClient, server: str) -> None:
    async with connect(server) as client:
        await client.init()
        for query, field, variables in (
            (ANOMALIES, "anomalies", {"f": {"observationIds": ["x"]}}),
            (TRACKS, "tracks", {"f": {"bbox": {"minLon": 0, "minLat": 50, "maxLon": 1, "maxLat": 40}}}),
            (TRACKS, "tracks", {"f": {"entityIds": ["nope"]}}),
        ):
            sub = await client.subscribe(query, variables, wait=False)
            message = await client.recv()
            assert message["id"] == sub and message["type"] == "next", message
            code = message["payload"]["errors"][0]["extensions"]["code"]
            assert (await client.recv()) == {"id": sub, "type": "complete"}
            kind = "AnomalyFilter" if field == "anomalies" else "TrackFilter"
            r = await http.post(
                "/graphql",
                json={
                    "query": f"query($f: {kind}) {{ {field}(filter: $f) {{ nodes {{ id }} }} }}",
                    "variables": variables,
                },
            )
            assert code == r.json()["errors"][0]["extensions"]["code"] != "INTERNAL", (code, r.text)
