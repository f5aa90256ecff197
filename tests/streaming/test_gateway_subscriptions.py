"""Subscriptions through the gateway of `atlas4d serve` (in-process subgraphs): a subscription selecting fields of
two subgraphs is planned like a query — the root field from core's hub, each event's entity fields from
mobility via `_entities` — over real WebSockets and SSE against the app served by uvicorn."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import orjson
import pytest
from ws_client import connect

from atlas4d.app import create_app
from atlas4d.federation.subscriptions import PlannedOperation
from atlas4d.settings import Settings
from live_server import MODERN_ACCEPT, InProcess

INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
CROSS = """subscription Cross($f: ObservationFilter) {
  observationAdded(filter: $f) { time entity { id kind vehicle { kind label } } }
}"""


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[InProcess]:
    """`atlas4d serve`'s app in this process (its hub can be looked at), over real sockets."""
    with InProcess(create_app(Settings(database_url=database_url, gc_freeze=False))) as server:
        yield server


@pytest.fixture(scope="module")
def server(served: InProcess) -> str:
    return served.base


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, headers=MODERN_ACCEPT, timeout=30) as c:
        yield c


async def vehicle(pool: asyncpg.Pool, kind: str = "bus") -> str:
    entity = uuid.uuid4()
    await pool.execute("INSERT INTO atlas4d.entities (id, kind) VALUES ($1, 'vehicle')", entity)
    await pool.execute(
        "INSERT INTO atlas4d_mobility.vehicles (entity_id, kind, label, capacity) VALUES ($1, $2, $3, 40)",
        entity,
        kind,
        f"line {str(entity)[:4]}",
    )
    return str(entity)


async def ingest(http: httpx.AsyncClient, entity: str, seconds: list[int]) -> list[str]:
    items = [
        {"time": f"2026-07-01T00:00:{s:02d}Z", "lon": 27.5, "lat": 42.5, "entityId": entity} for s in seconds
    ]
    r = await http.post("/graphql", json={"query": INGEST, "variables": {"o": items}})
    assert r.json()["data"]["ingestObservations"]["accepted"] == len(items), r.text
    return [i["time"].replace("Z", "+00:00") for i in items]


async def test_an_event_carries_fields_of_another_in_process_subgraph(
    server: str, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    bus, plain = await vehicle(pool, "bus"), str(uuid.uuid4())
    async with connect(server) as client:
        await client.init()
        await client.subscribe(CROSS, {"f": {"entityIds": [bus, plain]}})
        times = await ingest(http, bus, [1, 2])
        times += await ingest(http, plain, [3])
        events = [e["payload"] for e in await client.events(3)]
    assert [e.get("errors") for e in events] == [None, None, None]
    got = [e["data"]["observationAdded"] for e in events]
    assert [g["time"] for g in got] == times
    label = f"line {bus[:4]}"
    assert [g["entity"] for g in got[:2]] == [
        {"id": bus, "kind": "vehicle", "vehicle": {"kind": "BUS", "label": label}}
    ] * 2
    # an entity ingest created (not a vehicle): mobility answers null for it
    assert got[2]["entity"] == {"id": plain, "kind": "unknown", "vehicle": None}


async def test_the_same_over_sse(server: str, http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    truck = await vehicle(pool, "truck")
    body = {"query": CROSS, "variables": {"f": {"entityIds": [truck]}}}
    headers = {"accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=server, timeout=30) as sse,
        sse.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        assert await anext(lines) == ":"  # the subscription is live
        times = await ingest(http, truck, [5])
        async for line in lines:
            if line.startswith("data: "):
                event = orjson.loads(line[6:])
                break
    assert event == {
        "data": {
            "observationAdded": {
                "time": times[0],
                "entity": {
                    "id": truck,
                    "kind": "vehicle",
                    "vehicle": {"kind": "TRUCK", "label": f"line {truck[:4]}"},
                },
            }
        }
    }


@pytest.mark.parametrize(
    "query",
    [
        "subscription { observationAdded { id } }",  # one subgraph serves it whole
        "subscription { observationAdded { id entity { vehicle { kind } } } }",  # planned
    ],
)
async def test_a_subscription_sent_as_a_plain_request_is_refused(http: httpx.AsyncClient, query: str) -> None:
    r = await http.post("/graphql", json={"query": query})
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "WebSocket" in error["message"]


async def test_subscribers_with_different_filters_share_one_planned_rendering(
    served: InProcess, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    car, bus = await vehicle(pool, "car"), await vehicle(pool, "bus")
    async with connect(served.base) as one, connect(served.base) as two:
        for client, entity in ((one, car), (two, bus)):
            await client.init()
            await client.subscribe(CROSS, {"f": {"entityIds": [entity]}})
        feeds = [f for group in served.app.state.stream_hub._feeds["observations"].values() for f in group]
        renderers = {id(f.renderer) for f in feeds}
        assert len(feeds) == 2 and len(renderers) == 1  # the root field's filter only picks the events
        assert isinstance(feeds[0].renderer, PlannedOperation)
        await ingest(http, car, [30])
        await ingest(http, bus, [31])
        (for_one,) = await one.events(1)
        (for_two,) = await two.events(1)
    assert for_one["payload"]["data"]["observationAdded"]["entity"]["vehicle"]["kind"] == "CAR"
    assert for_two["payload"]["data"]["observationAdded"]["entity"]["vehicle"]["kind"] == "BUS"


async def test_the_events_of_one_batch_share_one_entities_request_per_subgraph(
    served: InProcess, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Three rows of one mutation are one change notice, so one hub batch: their `vehicle` fields come from
    mobility in one `_entities` request (the batched plan), and each event still gets its own vehicle."""
    entities = [await vehicle(pool, kind) for kind in ("car", "bus", "taxi")]
    mobility = served.app.state.gateway.subgraphs["mobility"]
    async with connect(served.base) as client:
        await client.init()
        await client.subscribe(CROSS, {"f": {"entityIds": entities}})
        before = mobility.requests
        items = [
            {"time": f"2026-07-02T00:00:0{i}Z", "lon": 27.5, "lat": 42.5, "entityId": e}
            for i, e in enumerate(entities)
        ]
        r = await http.post("/graphql", json={"query": INGEST, "variables": {"o": items}})
        assert r.json()["data"]["ingestObservations"]["accepted"] == 3, r.text
        events = [e["payload"] for e in await client.events(3)]
    assert mobility.requests - before == 1
    assert [e["data"]["observationAdded"]["entity"]["vehicle"]["kind"] for e in events] == [
        "CAR",
        "BUS",
        "TAXI",
    ]
    assert [e["data"]["observationAdded"]["entity"]["id"] for e in events] == entities


async def test_a_module_root_field_gets_core_fields_for_each_event(
    served: InProcess, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """mobility's `geofenceEvents` (on the hub, in-process) with core's `Entity.kind` and `Observation` fields,
    fetched by `_entities` for each event."""
    fence, bus = uuid.uuid4(), await vehicle(pool, "bus")
    await pool.execute(
        "INSERT INTO atlas4d_mobility.geofences (id, name, speed_limit_kmh, geom) "
        "VALUES ($1, 'depot', 30, ST_MakeEnvelope(36.0, 39.0, 36.1, 39.1, 4326))",
        fence,
    )
    query = """subscription($f: GeofenceEventFilter) {
      geofenceEvents(filter: $f) { kind geofence { name } entity { id kind vehicle { kind } } observation { lon lat } }
    }"""
    async with connect(served.base) as client:
        await client.init()
        await client.subscribe(query, {"f": {"geofenceIds": [str(fence)]}})
        item = {"time": "2026-07-03T00:00:00Z", "lon": 36.05, "lat": 39.05, "entityId": bus}
        r = await http.post("/graphql", json={"query": INGEST, "variables": {"o": [item]}})
        assert r.json()["data"]["ingestObservations"]["accepted"] == 1, r.text
        (event,) = await client.events(1)
    assert event["payload"] == {
        "data": {
            "geofenceEvents": {
                "kind": "ENTERED",
                "geofence": {"name": "depot"},
                "entity": {"id": bus, "kind": "vehicle", "vehicle": {"kind": "BUS"}},
                "observation": {"lon": 36.05, "lat": 39.05},
            }
        }
    }
