"""`/ready` (may this process take traffic?) against `/health` (is it alive?), on a real PostGIS.

Ready needs the pool open, every migration the code expects recorded as applied, and the supergraph built;
each check says what it saw. A server started before its migrations ran (as a pod does while the pre-upgrade
Job runs) is alive but not ready, and turns ready once they are applied, without a restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from atlas4d.app import all_migrations, create_app
from atlas4d.db.migrate import migrate
from atlas4d.federation.app import create_app as create_gateway_app
from atlas4d.federation.gateway import Gateway
from atlas4d.settings import Settings
from live_server import empty_database, free_port


async def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_ready_when_pool_migrations_and_supergraph_are(app: Starlette) -> None:
    async with await _client(app) as client:
        ready = await client.get("/ready")
        health = await client.get("/health")
    assert ready.status_code == 200 and health.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    database, migrations, supergraph = (body["checks"][k] for k in ("database", "migrations", "supergraph"))
    assert database["ok"] and database["pool"]["max"] == 8 and database["pool"]["size"] >= 1
    assert database["pool"]["in_use"] == database["pool"]["size"] - database["pool"]["idle"]
    assert migrations == {"ok": True, "expected": len(all_migrations([])), "pending": []}
    assert supergraph == {"ok": True, "state": "loaded", "subgraphs": ["core"]}
    assert "postgresql://" not in ready.text


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    async with empty_database(database_url, "ready") as url:
        yield url


async def test_not_ready_until_migrations_are_applied(settings: Settings, fresh_database: str) -> None:
    app = create_app(settings, dsn=fresh_database, modules=[], run_migrations=False)
    expected = [f"{m.module}/{m.version}" for m in all_migrations([])]
    async with app.router.lifespan_context(app), await _client(app) as client:
        before = await client.get("/ready")
        assert before.status_code == 503 and before.json()["status"] == "not ready"
        checks = before.json()["checks"]
        assert checks["database"]["ok"] and checks["supergraph"]["ok"]
        assert checks["migrations"] == {"ok": False, "expected": len(expected), "pending": expected}
        assert (await client.get("/health")).json()["status"] == "healthy"  # alive all the same

        conn = await asyncpg.connect(fresh_database)
        try:
            await migrate(conn, all_migrations([])[:-1])
        finally:
            await conn.close()
        partly = (await client.get("/ready")).json()["checks"]["migrations"]
        assert partly["pending"] == expected[-1:]

        conn = await asyncpg.connect(fresh_database)
        try:
            await migrate(conn, all_migrations([]))
        finally:
            await conn.close()
        after = await client.get("/ready")
        assert after.status_code == 200 and after.json()["checks"]["migrations"]["pending"] == []


async def test_not_ready_without_the_database(settings: Settings) -> None:
    dsn = f"postgresql://atlas4d@127.0.0.1:{free_port()}/nowhere"  # nothing listens there
    app = create_app(settings.model_copy(update={"db_retry_max_s": 60.0}), dsn=dsn, modules=[])
    async with app.router.lifespan_context(app), await _client(app) as client:
        ready = await client.get("/ready")
        health = await client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"] == {"ok": False, "state": "not connected"}
    assert checks["migrations"]["ok"] is False and checks["supergraph"]["ok"] is True
    assert "nowhere" not in ready.text and "127.0.0.1" not in ready.text


async def test_gateway_ready_once_its_supergraph_is_loaded() -> None:
    from atlas4d.platform import compose_local

    loaded = create_gateway_app(loader=lambda: Gateway.from_supergraph(compose_local([])))
    async with loaded.router.lifespan_context(loaded), await _client(loaded) as client:
        ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"supergraph": {"ok": True, "state": "loaded", "subgraphs": ["core"]}}

    empty = create_gateway_app()
    async with empty.router.lifespan_context(empty), await _client(empty) as client:
        ready = await client.get("/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["supergraph"]["state"] == "not loaded"
