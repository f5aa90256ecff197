"""Module subscriptions (atlas4d.streaming.derived) over graphql-transport-ws against a real `atlas4d serve`:
airspace `zoneEvents` on random flight paths, written alternately through the GraphQL mutation and the bulk
NDJSON endpoint, compared with a shapely oracle of the zoneViolations rule (enter / inside / leave against
the aircraft's previous observation); per-aircraft order; filters; typed errors."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import shapely
from ws_client import Client, connect

from live_server import MODERN_ACCEPT, serve

INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
ZONE_EVENTS = """subscription Z($f: ZoneEventFilter) {
  zoneEvents(filter: $f) { kind zoneId entityId observationId previousObservationId time altitude
                           zone { name } aircraft { icao24 } }
}"""
T0 = datetime(2026, 8, 1, tzinfo=UTC)
# two zones over an empty patch of sea (no other test writes here): a low box, and a triangle active
# only during the second half of the flights
LOW = {"poly": shapely.box(31.0, 40.0, 31.4, 40.4), "floor": 0.0, "ceiling": 3000.0, "from": None, "to": None}
TRI = {
    "poly": shapely.Polygon([(31.2, 40.1), (31.8, 40.1), (31.5, 40.7)]),
    "floor": 1000.0,
    "ceiling": 9000.0,
    "from": T0 + timedelta(seconds=30),
    "to": None,
}


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with serve(database_url) as base:
        yield base


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, headers=MODERN_ACCEPT, timeout=30) as c:
        yield c


async def add_zone(pool: asyncpg.Pool, zone: dict[str, Any], name: str) -> uuid.UUID:
    zid = uuid.uuid4()
    await pool.execute(
        "INSERT INTO atlas4d_airspace.restricted_zones (id, name, kind, geom, floor_m, ceiling_m, active_from, "
        "active_to) VALUES ($1, $2, 'test', ST_Multi(ST_GeomFromText($3, 4326)), $4, $5, $6, $7)",
        zid,
        name,
        zone["poly"].wkt,
        zone["floor"],
        zone["ceiling"],
        zone["from"],
        zone["to"],
    )
    return zid


async def add_aircraft(pool: asyncpg.Pool) -> uuid.UUID:
    eid = uuid.uuid4()
    await pool.execute(
        "INSERT INTO atlas4d.entities (id, kind, name) VALUES ($1, 'aircraft', $2)", eid, f"test {eid}"
    )
    await pool.execute(
        "INSERT INTO atlas4d_airspace.aircraft (entity_id, icao24) VALUES ($1, $2)", eid, eid.hex[:6]
    )
    return eid


def inside(zone: dict[str, Any], p: dict[str, Any]) -> bool:
    t = datetime.fromisoformat(p["time"])
    return (
        zone["poly"].intersects(shapely.Point(p["lon"], p["lat"]))
        and zone["floor"] <= p["altitude"] <= zone["ceiling"]
        and (zone["from"] is None or t >= zone["from"])
        and (zone["to"] is None or t < zone["to"])
    )


def oracle(path: list[dict[str, Any]], zones: dict[uuid.UUID, dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, zone id) per observation of one aircraft, in time order (LEFT before ENTERED, then zone id)."""
    out: list[tuple[str, str]] = []
    previous: dict[str, Any] | None = None
    for p in path:
        events = []
        for zid, zone in zones.items():
            now, was = inside(zone, p), previous is not None and inside(zone, previous)
            if now or was:
                kind = "INSIDE" if now and was else "ENTERED" if now else "LEFT"
                events.append(({"LEFT": 0, "ENTERED": 1, "INSIDE": 2}[kind], str(zid), kind))
        out += [(kind, zid) for _, zid, kind in sorted(events)]
        previous = p
    return out


def flight(rng: random.Random, entity: uuid.UUID, track: uuid.UUID, n: int) -> list[dict[str, Any]]:
    lon, lat, alt = rng.uniform(31.0, 31.6), rng.uniform(40.0, 40.5), rng.uniform(500, 4000)
    out = []
    for i in range(n):
        lon = min(max(lon + rng.uniform(-0.12, 0.12), 30.8), 32.0)
        lat = min(max(lat + rng.uniform(-0.12, 0.12), 39.8), 40.9)
        alt = min(max(alt + rng.uniform(-800, 800), 0.0), 10_000.0)
        out.append(
            {
                "time": (T0 + timedelta(seconds=3 * i)).isoformat(),
                "lon": round(lon, 6),
                "lat": round(lat, 6),
                "altitude": round(alt, 1),
                "entityId": str(entity),
                "trackId": str(track),
                "sourceType": "adsb",
            }
        )
    return out


async def write_graphql(http: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    r = await http.post("/graphql", json={"query": INGEST, "variables": {"o": items}})
    assert r.status_code == 200 and "errors" not in r.json(), r.text


async def write_bulk(http: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    body = b"".join(orjson.dumps(i) + b"\n" for i in items)
    r = await http.post(
        "/ingest/observations", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert r.status_code == 200, r.text


async def collect(client: Client, count: int) -> list[dict[str, Any]]:
    events = [e["payload"] for e in await client.events(count)]
    assert all("errors" not in e for e in events), events
    return [e["data"]["zoneEvents"] for e in events]


@pytest.mark.parametrize("seed", [1, 2])
async def test_zone_events_follow_the_oracle_whoever_writes(
    server: str, http: httpx.AsyncClient, pool: asyncpg.Pool, seed: int
) -> None:
    rng = random.Random(seed)
    zones = {await add_zone(pool, LOW, "low box"): LOW, await add_zone(pool, TRI, "late triangle"): TRI}
    planes = [await add_aircraft(pool) for _ in range(3)]
    paths = {p: flight(rng, p, uuid.uuid4(), 24) for p in planes}
    expected = {p: oracle(paths[p], zones) for p in planes}
    zone_ids = [str(z) for z in zones]
    entered_low = [e for e in expected[planes[0]] if e == ("ENTERED", zone_ids[0])]
    async with connect(server) as everything, connect(server) as narrow:
        await everything.init()
        await narrow.init()
        await everything.subscribe(ZONE_EVENTS, {"f": {"zoneIds": zone_ids}})
        await narrow.subscribe(
            ZONE_EVENTS,
            {"f": {"kinds": ["ENTERED"], "zoneIds": [zone_ids[0]], "entityIds": [str(planes[0])]}},
        )
        # six batches per aircraft, interleaved between aircraft, alternating the two writers
        for step in range(6):
            for plane in planes:
                chunk = paths[plane][4 * step : 4 * step + 4]
                await (write_graphql if (step + planes.index(plane)) % 2 == 0 else write_bulk)(http, chunk)
        got = await collect(everything, sum(len(v) for v in expected.values()))
        got_narrow = await collect(narrow, len(entered_low)) if entered_low else []
        await everything.barrier()  # nothing more than the oracle's events
        await narrow.barrier()
    # the random paths do cross the zones, both ways
    assert {k for v in expected.values() for k, _ in v} == {"ENTERED", "INSIDE", "LEFT"}
    for plane in planes:
        mine = [e for e in got if e["entityId"] == str(plane)]
        assert [(e["kind"], e["zoneId"]) for e in mine] == expected[plane], plane
        times = [e["time"] for e in mine]
        assert times == sorted(times)  # per aircraft: commit order, which is time order here
        assert all(e["aircraft"] == {"icao24": plane.hex[:6]} for e in mine)
    ids = [int(e["observationId"]) for e in got]
    assert ids == sorted(ids)  # one writer at a time: commit order is id order, across aircraft too
    assert [(e["kind"], e["zoneId"]) for e in got_narrow] == entered_low
    assert all(e["zone"]["name"] == "low box" for e in got_narrow)


async def test_previous_observation_is_compared_and_bad_filters_are_typed(
    server: str, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    zone = await add_zone(pool, LOW, "low box")
    plane, track = await add_aircraft(pool), uuid.uuid4()
    stored = await pool.fetchval(
        "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, altitude_m, entity_id, track_id) "
        "VALUES ($1, 31.2, 40.2, ST_SetSRID(ST_MakePoint(31.2, 40.2), 4326), 500, $2, $3) RETURNING id",
        T0 - timedelta(hours=1),
        plane,
        track,
    )
    async with connect(server) as client:
        await client.init()
        bad = await client.subscribe(ZONE_EVENTS, {"f": {"zoneIds": ["nope"]}}, wait=False)
        message = await client.recv()
        query = '{ zoneViolations(zoneIds: ["nope"]) { id } }'
        refused = (await http.post("/graphql", json={"query": query})).json()["errors"][0]
        assert message["id"] == bad and message["payload"]["errors"][0]["message"] == refused["message"]
        assert message["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"  # as the query
        assert (await client.recv()) == {"id": bad, "type": "complete"}
        await client.subscribe(ZONE_EVENTS, {"f": {"zoneIds": [str(zone)]}})
        # written before the subscription: not delivered, but the next one is compared with it
        base = {"entityId": str(plane), "trackId": str(track), "lat": 40.2}
        await write_graphql(
            http,
            [
                {**base, "time": T0.isoformat(), "lon": 31.3, "altitude": 600},  # still inside: INSIDE
                {**base, "time": (T0 + timedelta(seconds=1)).isoformat(), "lon": 31.3, "altitude": 4000},
                {**base, "time": (T0 + timedelta(seconds=2)).isoformat(), "lon": 31.6, "altitude": 100},
            ],
        )
        got = await collect(client, 2)
        await client.barrier()
    assert [e["kind"] for e in got] == ["INSIDE", "LEFT"]  # above the ceiling; then outside, nothing
    assert got[0]["previousObservationId"] == str(stored)
    assert got[1]["previousObservationId"] == got[0]["observationId"]


GEOFENCE_EVENTS = """subscription G($f: GeofenceEventFilter) {
  geofenceEvents(filter: $f) { id kind geofenceId entityId observationId previousObservationId speedKmh
                               limitKmh geofence { name } }
}"""
SPEEDING = """query S($g: [ID!], $e: [ID!]) {
  speedingEvents(geofenceIds: $g, entityIds: $e, first: 10000) { id }
}"""
# two overlapping geofences over an empty patch of land (no other test writes here)
FENCES = {
    "square": (shapely.box(33.0, 41.0, 33.3, 41.3), 50.0),
    "diamond": (shapely.Polygon([(33.25, 41.0), (33.5, 41.2), (33.25, 41.4), (33.0, 41.2)]), 90.0),
}


def fence_oracle(path: list[dict[str, Any]], fences: dict[str, shapely.Polygon]) -> list[tuple[str, str]]:
    """(kind, geofence id) per observation of one entity, in time order (LEFT, ENTERED, then fence id)."""
    out: list[tuple[str, str]] = []
    was: set[str] = set()
    for p in path:
        now = {fid for fid, poly in fences.items() if poly.intersects(shapely.Point(p["lon"], p["lat"]))}
        events = [(0, fid, "LEFT") for fid in was - now] + [(1, fid, "ENTERED") for fid in now - was]
        out += [(kind, fid) for _, fid, kind in sorted(events)]
        was = now
    return out


async def write_rest(http: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    body = [
        {"t": i["time"], "lon": i["lon"], "lat": i["lat"], "entity_id": i["entityId"], "speed_ms": i["speed"]}
        for i in items
    ]
    r = await http.post("/api/observations", json=body)
    assert r.status_code == 200, r.text


async def test_geofence_events_follow_the_oracle_and_speeding_agrees_with_the_query(
    server: str, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    rng = random.Random(7)
    fences: dict[str, shapely.Polygon] = {}
    for name, (poly, limit) in FENCES.items():
        fid = uuid.uuid4()
        await pool.execute(
            "INSERT INTO atlas4d_mobility.geofences (id, name, speed_limit_kmh, geom) "
            "VALUES ($1, $2, $3, ST_GeomFromText($4, 4326))",
            fid,
            name,
            limit,
            poly.wkt,
        )
        fences[str(fid)] = poly
    cars = [uuid.uuid4() for _ in range(3)]
    paths: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for car in cars:
        lon, lat, path = rng.uniform(33.0, 33.4), rng.uniform(41.0, 41.4), []
        for i in range(20):
            lon = min(max(lon + rng.uniform(-0.08, 0.08), 32.9), 33.6)
            lat = min(max(lat + rng.uniform(-0.08, 0.08), 40.9), 41.5)
            speed = round(rng.uniform(5, 35), 2)  # 18 .. 126 km/h: both sides of both limits
            time = (T0 + timedelta(seconds=5 * i)).isoformat()
            path.append({"time": time, "lon": round(lon, 6), "lat": round(lat, 6), "entityId": str(car)})
            path[-1]["speed"] = speed
        paths[car] = path
    expected = {car: fence_oracle(paths[car], fences) for car in cars}
    fence_ids = list(fences)
    async with connect(server) as client:
        await client.init()
        await client.subscribe(GEOFENCE_EVENTS, {"f": {"geofenceIds": fence_ids}})
        for step in range(5):
            for car in cars:
                chunk = paths[car][4 * step : 4 * step + 4]
                await (write_graphql if (step + cars.index(car)) % 2 == 0 else write_rest)(http, chunk)
        r = await http.post(
            "/graphql", json={"query": SPEEDING, "variables": {"g": fence_ids, "e": [str(c) for c in cars]}}
        )
        speeding = {e["id"] for e in r.json()["data"]["speedingEvents"]}
        count = sum(len(v) for v in expected.values()) + len(speeding)
        got = [e["payload"]["data"]["geofenceEvents"] for e in await client.events(count)]
        await client.barrier()  # nothing more
    kinds = {k for v in expected.values() for k, _ in v}
    assert kinds == {"ENTERED", "LEFT"} and len(speeding) > 3  # the paths do cross the fences, fast and slow
    for car in cars:
        mine = [e for e in got if e["entityId"] == str(car) and e["kind"] != "SPEEDING"]
        assert [(e["kind"], e["geofenceId"]) for e in mine] == expected[car], car
    # SPEEDING is exactly what the query path reports for the same rows
    fast = [e for e in got if e["kind"] == "SPEEDING"]
    assert {e["id"].rsplit(":", 1)[0] for e in fast} == speeding and len(fast) == len(speeding)
    assert all(e["speedKmh"] > e["limitKmh"] for e in fast)
    ids = [int(e["observationId"]) for e in got]
    assert ids == sorted(ids)  # commit order


NETWORK_ANOMALIES = """subscription N($types: [NetworkAnomalyType!], $min: Int, $nodes: [ID!]) {
  networkAnomalyDetected(types: $types, minSeverity: $min, nodeIds: $nodes) { id type severity node { name } }
}"""
NETWORK_QUERY = """query Q($types: [NetworkAnomalyType!], $min: Int, $nodes: [ID!]) {
  networkAnomalies(types: $types, minSeverity: $min, nodeIds: $nodes, first: 10000) { id }
}"""
ANOMALY_ROW = (
    "INSERT INTO atlas4d_telecom.anomalies (id, node_id, type, severity, started_at, ended_at, samples) "
    "SELECT u.id, u.node, u.type, u.severity, $5, $5, 1 "
    "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[]) AS u(id, node, type, severity)"
)


async def test_network_anomalies_from_the_modules_own_channel_agree_with_the_query(
    server: str, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """telecom's rows are announced by its own trigger (module channel `telecom.anomalies`): one multi-row
    statement, a detection job (INSERT … SELECT detect_anomalies), and 250 rows in one statement (split over
    two notices) all reach subscribers in commit order; each subscription gets what `networkAnomalies` with
    the same arguments returns."""
    rng = random.Random(3)
    nodes = [uuid.uuid4(), uuid.uuid4()]
    for i, node in enumerate(nodes):
        await pool.execute(
            "INSERT INTO atlas4d_telecom.nodes (entity_id, kind, name) VALUES ($1, 'olt', $2)",
            node,
            f"olt-{i}",
        )
    ids = [str(n) for n in nodes]
    filters = [
        {"min": 3, "nodes": ids},
        {"types": ["LINK_DOWN", "CONGESTION"], "nodes": ids},
        {"nodes": [ids[1]]},
    ]
    types = ["high_latency", "packet_loss", "link_down", "congestion", "power_warning"]
    async with connect(server) as client:
        await client.init()
        subs = [await client.subscribe(NETWORK_ANOMALIES, f) for f in filters]
        written: list[str] = []
        for count in (6, 250):  # one statement each; 250 ids are two notices
            batch = [uuid.uuid4() for _ in range(count)]
            await pool.execute(
                ANOMALY_ROW,
                batch,
                [rng.choice(nodes) for _ in batch],
                [rng.choice(types) for _ in batch],
                [rng.randint(1, 5) for _ in batch],
                T0,
            )
            written += [str(a) for a in batch]
        # the detection job: metrics of node 1 with a fault, anomalies stored from detect_anomalies
        await pool.executemany(
            "INSERT INTO atlas4d_telecom.metrics (node_id, t, latency_ms, status) VALUES ($1, $2, $3, $4)",
            [(nodes[1], T0 + timedelta(minutes=m), 5.0, "down" if 2 <= m < 5 else "up") for m in range(8)],
        )
        detected = await pool.fetch(
            "INSERT INTO atlas4d_telecom.anomalies (id, node_id, type, severity, started_at, ended_at, "
            "peak_value, threshold, samples) SELECT gen_random_uuid(), d.* FROM "
            "atlas4d_telecom.detect_anomalies($1::uuid[], NULL, NULL, 50, 5, 90, -28) d RETURNING id",
            [nodes[1]],
        )
        assert len(detected) == 1  # one link_down run
        written += [str(r["id"]) for r in detected]
        expected = []
        for f in filters:
            r = await http.post("/graphql", json={"query": NETWORK_QUERY, "variables": f})
            expected.append({a["id"] for a in r.json()["data"]["networkAnomalies"]})
        got: dict[str, list[dict[str, Any]]] = {s: [] for s in subs}
        for message in await client.events(sum(len(e) for e in expected), seconds=60):
            got[message["id"]].append(message["payload"]["data"]["networkAnomalyDetected"])
        await client.barrier()
    for sub, want in zip(subs, expected, strict=True):
        mine = [e["id"] for e in got[sub]]
        assert set(mine) == want and len(mine) == len(want)  # the query path's answer, each once
        assert mine == [a for a in written if a in want]  # commit order, statement order within
    assert {e["node"]["name"] for e in got[subs[2]]} == {"olt-1"}
    assert str(detected[0]["id"]) in {e["id"] for e in got[subs[1]]}  # link_down from the detection job
