"""The compatibility suite's database: built from the Core Spec v0.3 DDL (`core_spec_v0_3.sql`, our own copy
written from the spec) with rows shaped like the original Atlas4D's seeds (`seed_like.py`), as an existing
deployment's database would be — then served by our gateway, which migrates (adopts) it at start-up.

`original_state` is a fingerprint of everything the original owns (rows, columns, constraints, indexes), taken
before our gateway first touches the database; tests compare it after migrations and `atlas4d db adopt`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from compat_db import OriginalDatabase, Server, free_port, original_state
from seed_like import generate, insert
from starlette.applications import Starlette

from atlas4d.app import create_app
from atlas4d.db.embedded import EmbeddedCluster
from atlas4d.modules.registry import discover
from atlas4d.settings import Settings

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
COMPAT_DB = f"atlas4d_compat_{os.getpid()}"
ADOPT_DB = f"atlas4d_adopt_{os.getpid()}"


async def build_original(cluster: EmbeddedCluster, name: str) -> OriginalDatabase:
    """A new database `name` from the Core Spec DDL holding the seed-like rows, fingerprinted."""
    admin = await asyncpg.connect(cluster.admin_url())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = cluster.admin_url().rsplit("/", 1)[0] + f"/{name}"
    data = generate()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute((HERE / "core_spec_v0_3.sql").read_text(encoding="utf-8"))
        await insert(conn, data)
        max_ids = {
            "observations_core": max(o.id for o in data.observations),
            "anomalies": max(a.id for a in data.anomalies),
        }
        before = await original_state(conn, max_ids)
    finally:
        await conn.close()
    return OriginalDatabase(url, data, before, max_ids)


async def original_database(settings: Settings, name: str) -> AsyncIterator[OriginalDatabase]:
    cluster = EmbeddedCluster.from_settings(settings)
    cluster.start()
    yield await build_original(cluster, name)
    admin = await asyncpg.connect(cluster.admin_url())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def original_db(settings: Settings) -> AsyncIterator[OriginalDatabase]:
    async for db in original_database(settings, COMPAT_DB):
        yield db


@pytest.fixture(scope="session")
async def adopted_db(settings: Settings) -> AsyncIterator[OriginalDatabase]:
    """A second original database of the same rows, for `atlas4d db adopt` (which the other tests' database
    never sees: they serve an original database as it is)."""
    async for db in original_database(settings, ADOPT_DB):
        yield db


@pytest.fixture(scope="session")
async def compat_app(settings: Settings, original_db: OriginalDatabase) -> AsyncIterator[Starlette]:
    """Our whole server (core and every installed module, whatever this machine's module state says) over the
    original's database; start-up migrates it."""
    application = create_app(settings, dsn=original_db.url, modules=[d.module for d in discover().values()])
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def compat(compat_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=compat_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="session")
def compat_server(original_db: OriginalDatabase, compat_app: Starlette) -> Iterator[Server]:
    """`atlas4d serve` as a real process on a free port, over the original's database (already migrated by
    `compat_app`, so both see the same schema)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS4D_")}
    env |= {"ATLAS4D_DATABASE_URL": original_db.url, "ATLAS4D_PORT": str(port), "ATLAS4D_POOL_MIN_SIZE": "1"}
    log = HERE / f".compat-server-{os.getpid()}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(BIN / "atlas4d"), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"{url}/health", timeout=2).json().get("postgres") == "healthy":
                    break
            except (httpx.TransportError, ValueError):
                pass
            assert time.monotonic() < deadline, "the server did not start in 60 s: " + log.read_text()
            time.sleep(0.2)
        yield Server(url, "127.0.0.1", port)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.unlink(missing_ok=True)
