"""Database faults survived (issue 13 item 6), on a PostgreSQL of this test's own (a private cluster on a free
port: restarting the shared test cluster would break every other test) and a real `atlas4d serve` process.

- Restarted under query load: requests in flight get `DATABASE_UNAVAILABLE` (never `INTERNAL`), `/health`
  reports the outage, and the same server process answers again once PostgreSQL is back — no restart.
- Crashed (`pg_ctl stop -m immediate`: no shutdown checkpoint, recovery from the WAL) during concurrent ingest
  over GraphQL and bulk NDJSON: every acknowledged batch is stored whole, every failed batch is stored whole or
  not at all (a commit can succeed while its answer is lost), nothing half-written.
- SIGTERM drains: a bulk ingest whose body is still arriving when the signal comes is finished, answered and
  stored; the listener is closed meanwhile; the process then shuts down cleanly. A request that never ends does not hold
  the process beyond `ATLAS4D_SHUTDOWN_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from private_servers import Server, private_cluster

from atlas4d.db.embedded import EmbeddedCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    with private_cluster() as db:
        yield db


@pytest.fixture
def server(cluster: EmbeddedCluster) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(**settings: str) -> Server:
        started.append(Server(cluster.url, **settings))
        return started[-1]

    yield start
    for s in started:
        s.stop()


INGEST = """mutation Ingest($batch: [ObservationInput!]!) {
  ingestObservations(observations: $batch) { accepted }
}"""
READ = "{ observations(first: 50) { totalCount nodes { id time lon lat entity { id } } } }"


def batch(entity: uuid.UUID, size: int, minute: int = 0) -> list[dict[str, Any]]:
    """`size` observations of one new entity: the entity id names the batch in the database."""
    return [
        {
            "time": f"2026-03-01T{(minute // 60) % 24:02d}:{minute % 60:02d}:{i % 60:02d}Z",
            "lon": 27.4 + i * 1e-4,
            "lat": 42.5,
            "sourceType": "fault-test",
            "entityId": str(entity),
        }
        for i in range(size)
    ]


def masked(log: str) -> list[str]:
    """The server's log lines of errors it answered as INTERNAL (GraphQL) or 500 (REST, bulk)."""
    return [
        line for line in log.splitlines() if "unexpected error at" in line or " failed (request id " in line
    ]


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code", "") for e in body.get("errors", [])]


async def wait_until(client: httpx.AsyncClient, seconds: float) -> float:
    """Poll a read until it succeeds; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            r = await client.post("/graphql", json={"query": READ})
            if r.status_code == 200 and "errors" not in r.json():
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"no successful read within {seconds} s")


async def test_query_load_survives_a_database_restart(
    cluster: EmbeddedCluster, server: Callable[..., Server]
) -> None:
    atlas4d = server()
    if True:
        async with httpx.AsyncClient(base_url=atlas4d.base, timeout=30) as client:
            r = await client.post(
                "/graphql", json={"query": INGEST, "variables": {"batch": batch(uuid.uuid4(), 50)}}
            )
            assert r.json()["data"]["ingestObservations"]["accepted"] == 50
            outcomes: Counter[str] = Counter()
            health: list[str] = []
            stop = asyncio.Event()

            async def reader() -> None:
                while not stop.is_set():
                    r = await client.post("/graphql", json={"query": READ})
                    body = r.json()
                    if "errors" in body:
                        outcomes.update(codes(body))
                    else:
                        assert body["data"]["observations"]["totalCount"] >= 50
                        outcomes["ok"] += 1

            async def probe() -> None:
                while not stop.is_set():
                    health.append((await client.get("/health")).json()["postgres"])
                    await asyncio.sleep(0.02)

            tasks = [asyncio.create_task(reader()) for _ in range(6)] + [asyncio.create_task(probe())]
            while outcomes["ok"] < 10:  # serving under load before the restart  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            before = outcomes["ok"]
            await asyncio.to_thread(cluster.stop, "fast")
            await asyncio.sleep(1.0)  # down for a while: everything answered, typed
            await asyncio.to_thread(cluster.start)
            recovered_in = await wait_until(client, 30)
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*tasks)

    assert outcomes["ok"] > before, outcomes  # served before, and again after, the restart
    assert set(outcomes) <= {"ok", "DATABASE_UNAVAILABLE"}, outcomes  # never INTERNAL
    assert not masked(atlas4d.output())
    assert outcomes["DATABASE_UNAVAILABLE"] > 0, outcomes  # the outage was seen, and said
    assert "unhealthy" in health and health[-1] == "healthy", Counter(health)
    assert recovered_in < 15


async def test_no_acknowledged_write_is_lost_when_the_database_crashes(
    cluster: EmbeddedCluster, server: Callable[..., Server]
) -> None:
    sent: dict[uuid.UUID, str] = {}  # batch -> "acked" | "failed"
    size = 40
    atlas4d = server()
    if True:
        async with httpx.AsyncClient(base_url=atlas4d.base, timeout=60) as client:
            stop = asyncio.Event()

            async def graphql_writer(n: int) -> None:
                minute = 0
                while not stop.is_set():
                    entity = uuid.uuid4()
                    minute += 1
                    r = await client.post(
                        "/graphql",
                        json={"query": INGEST, "variables": {"batch": batch(entity, size, minute)}},
                    )
                    body = r.json()
                    if "errors" in body:
                        assert set(codes(body)) == {"DATABASE_UNAVAILABLE"}, (body, atlas4d.output()[-3000:])
                        sent[entity] = "failed"
                    else:
                        assert body["data"]["ingestObservations"]["accepted"] == size
                        sent[entity] = "acked"

            async def bulk_writer() -> None:
                while not stop.is_set():
                    entity = uuid.uuid4()
                    lines = b"".join(orjson.dumps(o) + b"\n" for o in batch(entity, size * 10))
                    r = await client.post(
                        "/ingest/observations",
                        content=lines,
                        headers={"content-type": "application/x-ndjson"},
                    )
                    if r.status_code == 200:
                        assert r.json()["accepted"] == size * 10
                        sent[entity] = "acked"
                    else:
                        assert r.status_code == 503 and r.json()["error"]["code"] == "DATABASE_UNAVAILABLE", (
                            r.text
                        )
                        sent[entity] = "failed"

            tasks = [asyncio.create_task(graphql_writer(i)) for i in range(4)] + [
                asyncio.create_task(bulk_writer())
            ]
            await asyncio.sleep(1.5)
            await asyncio.to_thread(cluster.stop, "immediate")  # a crash: recovery replays the WAL
            await asyncio.sleep(0.5)
            await asyncio.to_thread(cluster.start)
            await wait_until(client, 30)
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*tasks)

    conn = await asyncpg.connect(cluster.url)
    try:
        rows = await conn.fetch(
            "SELECT entity_id, count(*) AS n FROM atlas4d.observations_core WHERE entity_id = ANY($1::uuid[]) "
            "GROUP BY entity_id",
            list(sent),
        )
    finally:
        await conn.close()
    stored = {r["entity_id"]: r["n"] for r in rows}
    acked = [e for e, s in sent.items() if s == "acked"]
    failed = [e for e, s in sent.items() if s == "failed"]
    assert len(acked) > 10 and failed, Counter(sent.values())  # writes went on around the crash
    lost = [e for e in acked if stored.get(e, 0) == 0]
    assert lost == [], f"{len(lost)} acknowledged batches missing after the crash"
    whole = {size, size * 10}
    assert all(stored[e] in whole for e in acked)
    assert all(stored.get(e, 0) in {0} | whole for e in failed)  # all or nothing, never half
    assert not masked(atlas4d.output())


async def test_sigterm_drains_an_ingest_in_flight(
    cluster: EmbeddedCluster, server: Callable[..., Server]
) -> None:
    atlas4d = server()
    process, base = atlas4d.process, atlas4d.base
    entity = uuid.uuid4()
    lines = [orjson.dumps(o) + b"\n" for o in batch(entity, 2_000)]
    signalled = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"".join(lines[:1_000])
        await signalled.wait()  # the rest arrives after SIGTERM
        await asyncio.sleep(0.5)
        yield b"".join(lines[1_000:])

    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            upload = asyncio.create_task(
                client.post(
                    "/ingest/observations", content=body(), headers={"content-type": "application/x-ndjson"}
                )
            )
            await asyncio.sleep(0.5)  # the request has started
            process.send_signal(signal.SIGTERM)
            signalled.set()
            await asyncio.sleep(0.2)
            with pytest.raises(httpx.ConnectError):  # no new connections while draining
                await httpx.AsyncClient(base_url=base).get("/health")
            response = await upload
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 2_000
        # uvicorn re-raises the signal it handled once shut down: the exit status says "terminated by SIGTERM"
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)
        assert "Application shutdown complete." in atlas4d.output()
    finally:
        pass
    conn = await asyncpg.connect(cluster.url)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core WHERE entity_id = $1", entity)
            == 2_000
        )
    finally:
        await conn.close()


async def test_shutdown_does_not_wait_forever(
    cluster: EmbeddedCluster, server: Callable[..., Server]
) -> None:
    """A body that stalls (here: slower than the body timeout) cannot hold a stopping process past the grace."""
    atlas4d = server(shutdown_timeout_s="2", body_timeout_ms="60000")
    process, base = atlas4d.process, atlas4d.base
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", int(base.rsplit(":", 1)[1]))
        writer.write(
            b"POST /ingest/observations HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\n"
            b'content-length: 1000000\r\n\r\n{"time": "2026-03-01T00:00:00Z"'
        )
        await writer.drain()
        await asyncio.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:  # before: the cancelled request's inner task kept its pool connection, and the pool's closing waited
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            raise AssertionError(atlas4d.output()[-3000:]) from None
        assert time.monotonic() - started < 8  # the 2 s grace, plus the pool's and hub's closing
        writer.close()
    finally:
        pass
