"""Without its database the server starts anyway and says so, as the original did, and recovers by itself.

The database sits behind a TCP relay this test opens and closes (a real network outage for the server:
connections refused, open ones cut). Down at start: `/health` 200 `degraded` / `not connected`, REST 503
`DATABASE_UNAVAILABLE`, GraphQL `DATABASE_UNAVAILABLE` (never `INTERNAL`), 404s still JSON. Relay up: the
background retry migrates and opens the pool, `/health` turns `healthy` and data flows. Cut again: degraded
with `postgres: unhealthy`, then healthy once more when the relay returns (the pool reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from compat_db import OriginalDatabase, free_port

from atlas4d.app import create_app
from atlas4d.settings import Settings


class Relay:
    """127.0.0.1:<port> → the database, switchable on and off."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        self.links |= {client_w, server_w}
        await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for w in self.links:
            w.close()
        self.links.clear()


@pytest.fixture
async def relay(original_db: OriginalDatabase) -> AsyncIterator[Relay]:
    target = urlsplit(original_db.url)
    r = Relay(target.hostname or "127.0.0.1", target.port or 5432)
    yield r
    await r.down()


async def wait_for(client: httpx.AsyncClient, postgres: str, seconds: float = 30) -> dict[str, str]:
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, str] = (await client.get("/health")).json()
        if body["postgres"] == postgres:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.2)


async def assert_unavailable(client: httpx.AsyncClient) -> None:
    for path in ("/api/stats", "/api/observations", "/api/anomalies", "/api/geojson/observations"):
        response = await client.get(path)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
    for query in ("{ observations(first: 2) { nodes { id lon } } }", "{ anomalies { totalCount } }"):
        body = (await client.post("/graphql", json={"query": query})).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["DATABASE_UNAVAILABLE"], body
    response = await client.get("/api/forecast")
    assert response.status_code == 404 and response.json()["detail"] == "Not Found"


async def test_starts_degraded_and_recovers(
    settings: Settings, original_db: OriginalDatabase, relay: Relay
) -> None:
    url = original_db.url.replace(f":{urlsplit(original_db.url).port}/", f":{relay.port}/")
    fast = settings.model_copy(update={"db_retry_max_s": 0.5, "db_connect_timeout_s": 2.0})
    app = create_app(fast, dsn=url, modules=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        health = await client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert (body["status"], body["postgres"]) == ("degraded", "not connected")
        await assert_unavailable(client)

        await relay.up()
        body = await wait_for(client, "healthy")
        assert body["status"] == "healthy"
        stats = (await client.get("/api/stats")).json()
        assert stats["total_observations"] >= len(original_db.data.observations)
        data = (await client.post("/graphql", json={"query": "{ observations { totalCount } }"})).json()
        assert data["data"]["observations"]["totalCount"] == stats["total_observations"]

        await relay.down()
        health = await client.get("/health")
        assert health.status_code == 200
        assert (health.json()["status"], health.json()["postgres"]) == ("degraded", "unhealthy")
        assert (await client.get("/api/stats")).status_code == 503

        await relay.up()
        await wait_for(client, "healthy")
        assert (await client.get("/api/stats")).status_code == 200
    with contextlib.suppress(Exception):
        await relay.down()
