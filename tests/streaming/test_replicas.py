"""Two `atlas4d serve` processes on one database: a write through one reaches the subscribers of the other
(PostgreSQL LISTEN/NOTIFY fan-out), and each replica's own subscribers too."""

from __future__ import annotations

import uuid

import httpx
from ws_client import connect

from live_server import MODERN_ACCEPT, replicas

INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"


async def test_a_write_through_one_replica_reaches_subscribers_of_the_other(database_url: str) -> None:
    entity = str(uuid.uuid4())
    with replicas(database_url, 2) as servers:
        first, second = (s.base for s in servers)
        async with connect(first) as on_first, connect(second) as on_second:
            for client in (on_first, on_second):
                await client.init()
                await client.subscribe(variables={"f": {"entityIds": [entity]}})
            items = [
                {"time": f"2026-07-01T00:00:0{i}Z", "lon": 27.5, "lat": 42.5, "entityId": entity}
                for i in range(3)
            ]
            async with httpx.AsyncClient(base_url=second, headers=MODERN_ACCEPT) as http:
                r = await http.post("/graphql", json={"query": INGEST, "variables": {"o": items}})
                assert r.json()["data"]["ingestObservations"]["accepted"] == 3, r.text
            got_first = [e["payload"]["data"]["observationAdded"]["time"] for e in await on_first.events(3)]
            got_second = [e["payload"]["data"]["observationAdded"]["time"] for e in await on_second.events(3)]
    assert got_first == got_second == [i["time"].replace("Z", "+00:00") for i in items]
