"""observationAdded over graphql-transport-ws against a real `atlas4d serve` (uvicorn, real WebSockets): every
matching row written after subscribing, by any writer, in commit order per entity; the protocol's rules; the
slow-consumer close; two replicas on one database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from ws_client import SUBSCRIBE_OBSERVATIONS, connect

from live_server import MODERN_ACCEPT, in_process

BOX = {"minLon": 27.0, "minLat": 42.0, "maxLon": 28.0, "maxLat": 43.0}
INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    # at most 2 subscriptions per connection: no other test here holds more (one server start for the module)
    with in_process(database_url, stream_init_timeout_s="1", max_subscriptions_per_connection="2") as base:
        yield base


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, headers=MODERN_ACCEPT, timeout=30) as c:
        yield c


def observation(i: int, lon: float, lat: float, entity: uuid.UUID, **more: Any) -> dict[str, Any]:
    return {
        "time": (T0 + timedelta(seconds=i)).isoformat(),
        "lon": lon,
        "lat": lat,
        "entityId": str(entity),
        **more,
    }


async def ingest(http: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    r = await http.post("/graphql", json={"query": INGEST, "variables": {"o": items}})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    assert r.json()["data"]["ingestObservations"]["accepted"] == len(items)


async def test_every_writer_reaches_a_subscriber_in_commit_order(
    server: str, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    car, bus = uuid.uuid4(), uuid.uuid4()
    async with connect(server) as client:
        await client.init()
        await client.subscribe(variables={"f": {"bbox": BOX}})
        # 1. the GraphQL mutation (inside and outside the box, two entities interleaved)
        await ingest(http, [observation(i, 27.5, 42.5, car if i % 2 else bus) for i in range(6)])
        await ingest(http, [observation(10, 30.0, 42.5, car)])  # outside: never delivered
        # 2. the Core Spec REST endpoint, 3. the bulk NDJSON endpoint, 4. SQL from outside the gateway
        rest = [
            {"lat": 42.6, "lon": 27.6, "t": (T0 + timedelta(seconds=20)).isoformat(), "entity_id": str(car)}
        ]
        assert (await http.post("/api/observations", json=rest)).status_code == 200
        bulk = orjson.dumps(observation(30, 27.7, 42.7, bus)) + b"\n"
        r = await http.post(
            "/ingest/observations", content=bulk, headers={"content-type": "application/x-ndjson"}
        )
        assert r.status_code == 200, r.text
        await pool.execute(
            "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, entity_id) "
            "VALUES ($1, 27.8, 42.8, ST_SetSRID(ST_MakePoint(27.8, 42.8), 4326), $2)",
            T0 + timedelta(seconds=40),
            car,
        )
        events = await client.events(9)
    got = [e["payload"]["data"]["observationAdded"] for e in events]
    stored = await pool.fetch(
        "SELECT id, entity_id FROM atlas4d.observations_core WHERE entity_id = ANY($1::uuid[]) "
        "AND lon BETWEEN 27 AND 28 ORDER BY id",
        [car, bus],
    )
    # ids grow with commits here (one writer at a time), so commit order is id order
    assert [int(e["id"]) for e in got] == [r["id"] for r in stored]
    assert all(e["payload"].keys() == {"data"} for e in events)
    assert {e["entityId"] for e in got} == {str(car), str(bus)}
    assert got[0]["entity"] == {"kind": "unknown"} and got[0]["lon"] == 27.5


async def test_filters_choose_what_each_subscriber_sees(server: str, http: httpx.AsyncClient) -> None:
    ent = uuid.uuid4()
    async with connect(server) as a, connect(server) as b:
        await a.init()
        await b.init()
        await a.subscribe(variables={"f": {"near": {"lon": 27.5, "lat": 42.5, "radiusMeters": 1000}}})
        await b.subscribe(variables={"f": {"sourceTypes": ["radar"], "altitude": {"min": 100}}})
        await ingest(
            http,
            [
                observation(0, 27.5, 42.5, ent, sourceType="gps"),  # a only
                observation(
                    1, 27.51, 42.5, ent, sourceType="radar", altitude=50
                ),  # a (820 m), not b (altitude)
                observation(2, 27.53, 42.5, ent, sourceType="radar", altitude=500),  # b only (2.4 km)
            ],
        )
        got_a = [e["payload"]["data"]["observationAdded"]["lon"] for e in await a.events(2)]
        got_b = [e["payload"]["data"]["observationAdded"]["lon"] for e in await b.events(1)]
        assert got_a == [27.5, 27.51] and got_b == [27.53]
        await a.barrier()  # nothing else queued for either
        await b.barrier()


async def test_bad_filter_is_a_typed_error_and_a_query_runs_once(server: str) -> None:
    async with connect(server) as client:
        await client.init()
        bad = {"f": {"bbox": {"minLon": 0, "minLat": 50, "maxLon": 1, "maxLat": 40}}}
        sub = await client.subscribe(variables=bad, wait=False)
        message = await client.recv()
        assert message["id"] == sub and message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "BAD_BBOX"
        assert (await client.recv()) == {"id": sub, "type": "complete"}
        invalid = await client.subscribe("subscription { observationAdded { nope } }", wait=False)
        message = await client.recv()
        assert message["type"] == "error" and message["id"] == invalid
        assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        query = await client.subscribe("{ observations(first: 1) { nodes { id } } }", wait=False)
        message = await client.recv()
        assert message["type"] == "next" and "observations" in message["payload"]["data"]
        assert (await client.recv()) == {"id": query, "type": "complete"}


async def test_complete_stops_a_subscription(server: str, http: httpx.AsyncClient) -> None:
    ent = uuid.uuid4()
    async with connect(server) as client:
        await client.init()
        first = await client.subscribe(variables={"f": {"entityIds": [str(ent)]}})
        second = await client.subscribe(variables={"f": {"entityIds": [str(ent)]}})
        await client.send({"id": first, "type": "complete"})
        await client.barrier()
        await ingest(http, [observation(0, 1.0, 1.0, ent)])
        (event,) = await client.events(1)
        assert event["id"] == second
        await client.barrier()


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }"}}], 4401),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        ([{"type": "connection_init"}, {"type": "what"}], 4400),
        (["not json"], 4400),
    ],
)
async def test_protocol_violations_close_with_the_protocol_codes(
    server: str, messages: list[Any], code: int
) -> None:
    async with connect(server) as client:
        for m in messages:
            await client.ws.send(m if isinstance(m, str) else orjson.dumps(m).decode())
        assert await client.close_code() == code


async def test_duplicate_id_init_timeout_and_subprotocol(server: str) -> None:
    async with connect(server) as client:
        await client.init()
        await client.subscribe(variables={"f": {"bbox": BOX}})
        await client.subscribe(variables={"f": {"bbox": BOX}}, wait=False)  # id 2
        await client.send({"id": "2", "type": "subscribe", "payload": {"query": SUBSCRIBE_OBSERVATIONS}})
        assert await client.close_code() == 4409
    async with connect(server) as client:
        assert await client.close_code() == 4408  # no connection_init within 1 s
    async with connect(server, protocol="graphql-ws") as client:  # the legacy subscriptions-transport-ws
        assert await client.close_code() == 4406


async def test_subscriptions_per_connection_are_limited(server: str) -> None:
    async with connect(server) as client:
        await client.init()
        await client.subscribe(variables={"f": {"bbox": BOX}})
        await client.subscribe(variables={"f": {"bbox": BOX}})
        third = await client.subscribe(variables={"f": {"bbox": BOX}}, wait=False)
        message = await client.recv()
        assert message["id"] == third and message["type"] == "error"
        assert message["payload"][0]["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS", "maximum": 2}


async def test_a_slow_consumer_is_closed_with_4413(database_url: str, pool: asyncpg.Pool) -> None:
    """One client stops reading big events; once its socket buffers and its outbox (10 messages) are full
    the server closes it with 4413, while a reading subscriber on the same server keeps getting every row."""
    with in_process(database_url, stream_queue_size="10") as base:
        async with connect(base, receive_buffer=65_536) as slow, connect(base) as fast:
            await slow.init()
            await fast.init()
            await slow.subscribe(
                "subscription($f: ObservationFilter) { observationAdded(filter: $f) { id metadata } }",
                {"f": {"bbox": BOX}},
            )
            await fast.subscribe("subscription { observationAdded(filter: {bbox: {minLon: 27, minLat: 42, "
                                 "maxLon: 28, maxLat: 43}}) { id } }")  # fmt: skip
            received: list[int] = []

            async def read_fast() -> None:
                while True:
                    received.append(int((await fast.recv(30))["payload"]["data"]["observationAdded"]["id"]))

            reader = asyncio.create_task(read_fast())
            written = 0
            pad = {"pad": "x" * 20_000}
            while written < 1_000:  # 20 MB for the slow client: more than any socket buffer holds
                await pool.execute(
                    "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, metadata) SELECT $1::timestamptz + "
                    "g * interval '1 ms', 27.5, 42.5, ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), $2::jsonb "
                    "FROM generate_series(1, 5) g",
                    T0 + timedelta(seconds=written),
                    orjson.dumps(pad).decode(),
                )
                written += 5
                await asyncio.sleep(0.005)
            assert await slow.close_code(60) == 4413  # what was buffered, then the close
            for _ in range(200):
                if len(received) >= written:
                    break
                await asyncio.sleep(0.1)
            reader.cancel()
            assert len(received) == written and received == sorted(received)
