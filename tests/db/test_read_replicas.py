"""Reads routed to a real streaming replica (issue 13 item 7): a primary of this test's own, a hot standby cloned
from it with `pg_basebackup -R`, and `atlas4d serve` with ATLAS4D_READ_DATABASE_URLS.

Replay on the standby is paused (`pg_wal_replay_pause()`) to make it visibly stale: a query right after a write
does not see the write (it was served by the replica, within the lag bound), the same query with
`x-atlas4d-read: primary` does, a mutation reads its own write, and once the replica lags past
ATLAS4D_READ_MAX_LAG_MS reads move to the primary — until replay resumes and the replica is fresh again.
A replica that goes down stops getting reads; nothing fails once the router has seen it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from private_servers import Server, private_cluster

from atlas4d.db.embedded import EmbeddedCluster

COUNT = """query Count($e: [ID!]) { observations(filter: {entityIds: $e}) { totalCount } }"""
CREATE = """mutation Create($e: ID!) {
  createEntities(entities: [{id: $e, kind: "vehicle", name: "replica-test"}]) { id name }
}"""
INGEST = """mutation Ingest($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"""


@pytest.fixture(scope="module")
def primary() -> Iterator[EmbeddedCluster]:
    with private_cluster() as db:
        yield db


@pytest.fixture
def replica(primary: EmbeddedCluster) -> Iterator[EmbeddedCluster]:
    with private_cluster(primary) as db:
        yield db


async def sql(url: str, query: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def replicas_state(client: httpx.AsyncClient, wanted: str, seconds: float = 20) -> float:
    """Wait until /health reports the (one) replica in state `wanted`; the seconds it took."""
    start = time.monotonic()
    while (state := (await client.get("/health")).json()["read_replicas"]) != [wanted]:
        assert time.monotonic() - start < seconds, state
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def count(client: httpx.AsyncClient, entity: str, **headers: str) -> int:
    r = await client.post("/graphql", json={"query": COUNT, "variables": {"e": [entity]}}, headers=headers)
    body = r.json()
    assert "errors" not in body, body
    total: int = body["data"]["observations"]["totalCount"]
    return total


async def write(client: httpx.AsyncClient, entity: str, second: int) -> None:
    obs = [{"time": f"2026-03-01T10:00:{second:02d}Z", "lon": 27.5, "lat": 42.5, "entityId": entity}]
    r = await client.post("/graphql", json={"query": INGEST, "variables": {"o": obs}})
    assert r.json() == {"data": {"ingestObservations": {"accepted": 1}}}


async def test_reads_follow_a_fresh_replica_within_the_lag_bound(
    primary: EmbeddedCluster, replica: EmbeddedCluster
) -> None:
    max_lag = 1.5
    atlas4d = Server(primary.url, read_database_urls=replica.url, read_max_lag_ms=str(int(max_lag * 1000)),
                     read_check_interval_ms="100")  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=atlas4d.base, timeout=30) as client:
            await replicas_state(client, "fresh")
            entity = str(uuid.uuid4())
            assert await sql(replica.url, "SELECT pg_is_in_recovery()") is True
            await sql(replica.url, "SELECT pg_wal_replay_pause()")

            # a mutation reads its own write (the whole request on the primary)
            r = await client.post("/graphql", json={"query": CREATE, "variables": {"e": entity}})
            assert r.json()["data"]["createEntities"] == [{"id": entity, "name": "replica-test"}]
            await write(client, entity, 1)
            stats_primary = (await client.get("/api/stats", headers={"x-atlas4d-read": "primary"})).json()
            stats_replica = (await client.get("/api/stats")).json()
            # served by the paused replica: stale, within the bound; the same read from the primary is not
            assert await count(client, entity) == 0
            assert await count(client, entity, **{"x-atlas4d-read": "primary"}) == 1
            assert stats_replica["total_observations"] == stats_primary["total_observations"] - 1

            # past the bound the replica gets no reads: they see the write
            waited = await replicas_state(client, "lagging")
            assert waited < max_lag + 1.0
            assert await count(client, entity) == 1

            # replay resumes: fresh again, and serving again (paused once more, a new write is not seen)
            await sql(replica.url, "SELECT pg_wal_replay_resume()")
            await replicas_state(client, "fresh")
            assert await count(client, entity) == 1
            await sql(replica.url, "SELECT pg_wal_replay_pause()")
            await write(client, entity, 2)
            assert await count(client, entity) == 1
            assert await count(client, entity, **{"x-atlas4d-read": "primary"}) == 2
            await sql(replica.url, "SELECT pg_wal_replay_resume()")

            # the replica goes away: once seen, reads go to the primary and nothing fails
            await asyncio.to_thread(replica.stop, "fast")
            await replicas_state(client, "unreachable")
            assert await count(client, entity) == 2
            assert (await client.get("/api/stats")).status_code == 200
    finally:
        atlas4d.stop()
