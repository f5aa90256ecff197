"""The telecom module on a real PostGIS: migrations, seed (alone and over the core demo), every root
field, metric buckets and anomaly detection against Python oracles, batching counted at the driver, typed
errors, and composition with core (and with mobility)."""

from __future__ import annotations

import json
import random
import subprocess
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from conftest import migrate_module, serve_modules

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.db.migrate import load_migrations, migrate
from atlas4d.db.pool import log_statements
from atlas4d.demo import load_burgas
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.modules.mobility.schema import build_mobility_schema
from atlas4d.modules.telecom import module
from atlas4d.modules.telecom.loaders import create_loaders
from atlas4d.modules.telecom.schema import build_telecom_schema
from atlas4d.modules.telecom.seed import detect_anomalies, seed_telecom
from atlas4d.modules.telecom.settings import TelecomSettings
from atlas4d.settings import Settings

END = datetime(2026, 5, 1, 12, tzinfo=UTC)
TABLES = "atlas4d_telecom.nodes CASCADE"
JS_DIR = Path(__file__).resolve().parents[1] / "js"
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def migrated(pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate_module(pool, module)
    return pool


@pytest.fixture
async def db(clean_db: asyncpg.Pool, migrated: asyncpg.Pool) -> asyncpg.Pool:
    await clean_db.execute(f"TRUNCATE {TABLES}")
    return clean_db


@pytest.fixture(scope="module")
async def tclient(
    settings: Settings, database_url: str, migrated: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve_modules(settings, database_url, [module]):
        yield client


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    r = await client.post("/subgraphs/telecom/graphql", json={"query": query, "variables": variables or {}})
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


async def seed(pool: asyncpg.Pool, n: int = 5) -> Any:
    async with pool.acquire() as conn:
        return await seed_telecom(conn, n, end=END)


async def snapshot(pool: asyncpg.Pool) -> dict[str, Any]:
    async def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await pool.fetch(sql)]

    return {
        "nodes": await rows("SELECT entity_id, kind, name, vendor, model, capacity_mbps, ports, ports_used, optical_power_dbm, ST_AsText(geom) FROM atlas4d_telecom.nodes ORDER BY 1"),
        "links": await rows("SELECT * FROM atlas4d_telecom.links ORDER BY 1"),
        "metrics": await rows("SELECT * FROM atlas4d_telecom.metrics ORDER BY 1, 2"),
        "anomalies": await rows("SELECT * FROM atlas4d_telecom.anomalies ORDER BY 1"),
        "entities": await rows("SELECT id, kind, name FROM atlas4d.entities ORDER BY 1"),
        "observations": await pool.fetchval("SELECT count(*) FROM atlas4d.observations_core"),
    }  # fmt: skip


def assert_tree(links: list[tuple[Any, ...]], nodes: set[uuid.UUID]) -> None:
    parents: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    children: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for link in links:
        parents[link[2]].append(link[1])
        children[link[1]].append(link[2])
    roots = [n for n in nodes if not parents[n]]
    assert len(roots) == 1 and all(len(parents[n]) == 1 for n in nodes - set(roots))
    seen, todo = set(), [roots[0]]
    while todo:
        n = todo.pop()
        seen.add(n)
        todo.extend(children[n])
    assert seen == nodes and len(links) == len(nodes) - 1


# --- migrations and seed --------------------------------------------------------------------------------


async def test_migrations_apply_once_and_touch_only_their_schema(migrated: asyncpg.Pool) -> None:
    async with migrated.acquire() as conn:
        assert await migrate(conn, load_migrations("telecom", module.migrations)) == []  # type: ignore[arg-type]
    tables = {r[0] for r in await migrated.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'atlas4d_telecom'")}
    assert tables == {"nodes", "links", "metrics", "anomalies"}
    sql = (module.migrations / "0001_telecom.sql").read_text()  # type: ignore[operator]
    assert "ALTER TABLE atlas4d." not in sql and "CREATE TABLE IF NOT EXISTS atlas4d." not in sql
    assert module.db_schema == "atlas4d_telecom" and module.problems("0.1.0") == []


async def test_seed_alone_is_deterministic_and_idempotent(db: asyncpg.Pool) -> None:
    summary = await seed(db)
    first = await snapshot(db)
    kinds = [n[1] for n in first["nodes"]]
    assert (kinds.count("olt"), kinds.count("switch"), kinds.count("cpe")) == (3, 5, 20)
    assert summary.rows["atlas4d_telecom.metrics"] == len(first["metrics"]) == 28 * 24 * 12
    assert_tree(first["links"], {n[0] for n in first["nodes"]})
    assert len(first["anomalies"]) == summary.rows["atlas4d_telecom.anomalies"] == 15
    assert sorted(a[2] for a in first["anomalies"]) == sorted(
        t for t in ("congestion", "high_latency", "link_down", "packet_loss", "power_warning") for _ in range(3)
    )
    for n in first["nodes"]:
        lon, lat = map(float, n[9].removeprefix("POINT(").removesuffix(")").split())
        assert 27.35 <= lon <= 27.55 and 42.45 <= lat <= 42.55
    assert {m[1] for m in first["metrics"]} == {END - timedelta(minutes=5 * i) for i in range(1, 289)}
    await seed(db)
    assert await snapshot(db) == first
    await db.execute(f"TRUNCATE {TABLES}")
    await db.execute("TRUNCATE atlas4d.observations_core, atlas4d.entities")
    await seed(db)
    assert await snapshot(db) == first
    await seed(db, 6)
    assert (await snapshot(db))["metrics"] != first["metrics"]


async def test_seed_over_the_core_demo_agrees_with_its_telemetry_and_anomalies(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        demo = await load_burgas(conn, seed=42, end=END)
    before = await snapshot(db)
    summary = await seed(db, 42)
    assert summary.rows["atlas4d.observations_core"] == 0
    snap = await snapshot(db)
    assert snap["entities"] == before["entities"] and snap["observations"] == before["observations"]
    assert len(snap["nodes"]) == demo.network_nodes == 28
    assert len(snap["metrics"]) == demo.network_observations
    assert_tree(snap["links"], {n[0] for n in snap["nodes"]})
    # switches and CPEs hang from the node their entity names as uplink
    uplinks = await db.fetch(
        "SELECT e.properties->>'uplink_node' AS named, l.from_node::text AS linked FROM atlas4d.entities e "
        "JOIN atlas4d_telecom.links l ON l.to_node = e.id WHERE e.kind IN ('switch', 'cpe')"
    )
    assert len(uplinks) == 25 and all(r["named"] == r["linked"] for r in uplinks)
    # the anomalies found in the metrics are the core demo's fault episodes, start for start
    core = {
        (r["node"], r["anomaly_type"], r["t"])
        for r in await db.fetch(
            "SELECT o.entity_id AS node, a.anomaly_type, o.t FROM atlas4d.anomalies a "
            "JOIN atlas4d.observations_core o ON o.id = a.observation_id"
        )
    }
    ours = {(a[1], a[2], a[4]) for a in snap["anomalies"]}
    assert ours == core and len(core) == demo.anomalies
    await seed(db, 42)
    assert await snapshot(db) == snap
