"""Shared fixtures: a fresh, migrated PostGIS database for the test session (never a mock).

The database is `atlas4d_test_<pid>` in the embedded cluster (started if needed), dropped at the end, so
concurrent runs never share tables; or the one named by `ATLAS4D_TEST_DATABASE_URL`. A missing database
is an error, not a skip. With `ATLAS4D_TEST_PARTITIONED=day|week|month|year` the database's observations_core
is converted by `atlas4d db partition` before any test runs (`make test-partitioned`: queries unchanged).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from atlas4d.app import create_app
from atlas4d.db.embedded import EmbeddedCluster
from atlas4d.db.migrate import core_migrations, migrate
from atlas4d.db.pool import create_pool
from atlas4d.settings import Settings
from live_server import MODERN_ACCEPT

TEST_DB = f"atlas4d_test_{os.getpid()}"


@pytest.fixture(scope="session")
def settings() -> Settings:
    # gc_freeze off: the suite builds hundreds of apps, and frozen objects are never collected
    return Settings(database_url=None, pool_min_size=1, pool_max_size=8, gc_freeze=False)


@pytest.fixture(scope="session")
async def database_url(settings: Settings) -> AsyncIterator[str]:
    url = os.environ.get("ATLAS4D_TEST_DATABASE_URL")
    cluster: EmbeddedCluster | None = None
    if url is None:
        cluster = EmbeddedCluster.from_settings(settings)
        cluster.start()
        admin = await asyncpg.connect(cluster.admin_url())
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {TEST_DB}")
        finally:
            await admin.close()
        url = cluster.admin_url().rsplit("/", 1)[0] + f"/{TEST_DB}"
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn, core_migrations())
        if interval := os.environ.get("ATLAS4D_TEST_PARTITIONED"):
            from datetime import UTC, datetime

            from atlas4d.db.partition import convert

            # ranges from Jan 2026 (the tests' data) to past today; anything else lands in DEFAULT
            ahead = {"day": 460, "week": 66, "month": 15, "year": 1}[interval]
            since = datetime(2026, 1, 1, tzinfo=UTC)
            report = await convert(conn, interval=interval, ahead=ahead, now=since)  # type: ignore[arg-type]
            assert report.outcome in ("converted", "already partitioned"), report
    finally:
        await conn.close()
    yield url
    if cluster is not None:
        admin = await asyncpg.connect(cluster.admin_url())
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def pool(settings: Settings, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings, database_url)
    yield pool
    await pool.close()


CORE_TABLES = "atlas4d.observations_core, atlas4d.entities, atlas4d.anomalies, atlas4d.tracks, atlas4d.trajectory_embeddings"


@pytest.fixture
async def clean_db(pool: asyncpg.Pool) -> asyncpg.Pool:
    """An empty core schema for this test."""
    async with pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {CORE_TABLES} RESTART IDENTITY")
    return pool


@pytest.fixture(scope="session")
async def app(settings: Settings, database_url: str) -> AsyncIterator[Starlette]:
    application = create_app(settings, dsn=database_url, modules=[])
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Sends Apollo Client 4's Accept header, as a modern client (see live_server.MODERN_ACCEPT)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=MODERN_ACCEPT
    ) as c:
        yield c
