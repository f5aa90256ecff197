"""The telecom module on a real PostGIS: migrations, seed (alone and over the core demo), every root
field, metric buckets and anomaly detection against Python oracles, batching counted at the driver, typed
errors, and composition with core (and with mobility)."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from module_helpers import migrate_module, serve_modules, subgraph_data

from atlas4d.db.migrate import load_migrations, migrate
from atlas4d.demo import load_burgas
from atlas4d.modules.telecom import module
from atlas4d.modules.telecom.seed import seed_telecom
from atlas4d.settings import Settings

END = datetime(2026, 5, 1, 12, tzinfo=UTC)
TABLES = "atlas4d_telecom.nodes CASCADE"
JS_DIR = Path(__file__).resolve().parents[1] / "js"


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
    return await subgraph_data(client, "telecom", query, variables)


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


async def insert_nodes(db: asyncpg.Pool, n: int) -> list[uuid.UUID]:
    """`n` nodes: one OLT feeding n-1 CPEs (rows of this module only; core needs none)."""
    ids = [uuid.uuid4() for _ in range(n)]
    await db.execute(
        "INSERT INTO atlas4d_telecom.nodes (entity_id, kind, name, geom) "
        "SELECT id, CASE WHEN i = 1 THEN 'olt' ELSE 'cpe' END, 'node ' || lpad(i::text, 3, '0'), "
        "ST_SetSRID(ST_MakePoint(27.4 + i * 0.001, 42.5), 4326) FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, i)",
        ids,
    )
    await db.execute(
        "INSERT INTO atlas4d_telecom.links (id, from_node, to_node, medium, capacity_mbps) "
        "SELECT gen_random_uuid(), $1, id, 'fiber', 1000 FROM unnest($2::uuid[]) AS id",
        ids[0], ids[1:],
    )  # fmt: skip
    return ids


# --- migrations and seed --------------------------------------------------------------------------------


async def test_migrations_apply_once_and_touch_only_their_schema(migrated: asyncpg.Pool) -> None:
    async with migrated.acquire() as conn:
        assert await migrate(conn, load_migrations("telecom", module.migrations)) == []  # type: ignore[arg-type]
    tables = {
        r[0]
        for r in await migrated.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'atlas4d_telecom'")
    }
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
        t
        for t in ("congestion", "high_latency", "link_down", "packet_loss", "power_warning")
        for _ in range(3)
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


# --- root and nested fields -------------------------------------------------------------------------------


async def test_every_root_field(db: asyncpg.Pool, tclient: httpx.AsyncClient) -> None:
    await seed(db)
    data = await gql(
        tclient,
        """{
          networkNodes { id kind name vendor model capacityMbps ports portsUsed opticalPowerDbm lon lat geometry
                         entity { id } parent { name } children { name } links { id }
                         latestMetric { time throughputMbps latencyMs status } }
          olts: networkNodes(kinds: [OLT]) { name }
          south: networkNodes(bbox: {minLon: 27.47, minLat: 42.48, maxLon: 27.48, maxLat: 42.495}, kinds: [OLT]) { name }
          networkLinks(first: 1000) { id medium capacityMbps lengthMeters from { kind } to { kind } }
          copper: networkLinks(media: [COPPER]) { medium from { kind } to { kind } }
          networkAnomalies { id type severity startedAt endedAt duration samples peakValue threshold node { name } }
          severe: networkAnomalies(minSeverity: 4) { severity }
          downs: networkAnomalies(types: [LINK_DOWN]) { type severity peakValue }
          networkMetrics(interval: "PT6H") { nodeId start interval samples throughputMbps node { name } }
        }""",
    )
    nodes = data["networkNodes"]
    assert [n["kind"] for n in nodes] == ["OLT"] * 3 + ["SWITCH"] * 5 + ["CPE"] * 20
    assert [n["name"] for n in data["olts"]] == ["OLT-Burgas-Central", "OLT-Burgas-North", "OLT-Burgas-South"]
    assert data["south"] == [{"name": "OLT-Burgas-South"}]
    by_name = {n["name"]: n for n in nodes}
    assert by_name["OLT-Burgas-Central"]["parent"] is None
    assert {c["name"] for c in by_name["OLT-Burgas-Central"]["children"]} >= {
        "OLT-Burgas-North",
        "OLT-Burgas-South",
    }
    for n in nodes:
        assert n["entity"]["id"] == n["id"] and n["geometry"]["coordinates"] == [n["lon"], n["lat"]]
        assert n["latestMetric"]["time"] == (END - timedelta(minutes=5)).isoformat()
        assert n["vendor"] and n["model"] and n["capacityMbps"] > 0 and n["opticalPowerDbm"] < 0
        expected_links = len(n["children"]) + (n["parent"] is not None)
        assert len(n["links"]) == expected_links
        if n["kind"] == "CPE":
            assert n["parent"]["name"].startswith("SW-") and n["children"] == []
    links = data["networkLinks"]
    assert len(links) == 27 and all(link["lengthMeters"] > 0 for link in links)
    assert all(c["from"]["kind"] == "SWITCH" and c["to"]["kind"] == "CPE" for c in data["copper"])
    anomalies = data["networkAnomalies"]
    assert len(anomalies) == 15
    assert [a["startedAt"] for a in anomalies] == sorted((a["startedAt"] for a in anomalies), reverse=True)
    assert {a["severity"] for a in data["severe"]} <= {4, 5} and len(data["severe"]) >= 3
    assert [a["severity"] for a in data["downs"]] == [5, 5, 5] and all(
        a["peakValue"] == 100 for a in data["downs"]
    )
    buckets = data["networkMetrics"]
    assert len(buckets) == 28 * 4 and all(b["samples"] == 72 and b["interval"] == "PT6H" for b in buckets)


async def test_entity_extension(db: asyncpg.Pool, tclient: httpx.AsyncClient) -> None:
    await seed(db)
    node = await db.fetchrow("SELECT entity_id, name FROM atlas4d_telecom.nodes WHERE kind = 'cpe' LIMIT 1")
    reps = [
        {"__typename": "Entity", "id": str(node["entity_id"])},
        {"__typename": "Entity", "id": str(uuid.uuid4())},
        {"__typename": "Entity", "id": "x"},
    ]
    data = await gql(
        tclient,
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id networkNode { name kind } } } }",
        {"r": reps},
    )
    assert data["_entities"][0]["networkNode"] == {"name": node["name"], "kind": "CPE"}
    assert data["_entities"][1]["networkNode"] is None and data["_entities"][2]["networkNode"] is None


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ('{ networkMetrics(interval: "PT10S") { samples } }', "BAD_DURATION"),
        ('{ networkMetrics(interval: "P1Y") { samples } }', "BAD_DURATION"),
        ('{ networkMetrics(interval: "soon") { samples } }', "BAD_DURATION"),
        (
            '{ networkMetrics(interval: "PT1M", time: {from: "2020-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z"}) { samples } }',
            "BAD_USER_INPUT",
        ),
        ('{ networkMetrics(nodeIds: ["olt-1"]) { samples } }', "BAD_USER_INPUT"),
        (
            '{ networkMetrics(time: {from: "2026-05-02T00:00:00Z", to: "2026-05-01T00:00:00Z"}) { samples } }',
            "BAD_TIME_RANGE",
        ),
        ('{ networkNodes { metrics(interval: "PT1S") { samples } } }', "BAD_DURATION"),
        ("{ networkAnomalies(minSeverity: 9) { id } }", "BAD_USER_INPUT"),
        ("{ networkAnomalies(minSeverity: 0) { id } }", "BAD_USER_INPUT"),
        ('{ networkAnomalies(time: {last: "PT1H", from: "2026-05-01T00:00:00Z"}) { id } }', "BAD_TIME_RANGE"),
        ('{ networkAnomalies(nodeIds: [""]) { id } }', "BAD_USER_INPUT"),
        ("{ networkNodes(bbox: {minLon: 27, minLat: 43, maxLon: 28, maxLat: 42}) { id } }", "BAD_BBOX"),
        ("{ networkNodes(first: 20000) { id } }", "PAGE_TOO_LARGE"),
        ('{ networkNodes(ids: ["1"]) { id } }', "BAD_USER_INPUT"),
        ('{ networkLinks(nodeIds: ["1"]) { id } }', "BAD_USER_INPUT"),
        ("{ networkNodes(kinds: [ROUTER]) { id } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_bad_input_gives_a_typed_code(
    db: asyncpg.Pool, tclient: httpx.AsyncClient, query: str, code: str
) -> None:
    await insert_nodes(db, 2)  # nested arguments are checked when there is a node to resolve
    r = await tclient.post("/subgraphs/telecom/graphql", json={"query": query})
    body = r.json()
    assert body.get("errors"), body
    assert body["errors"][0]["extensions"]["code"] == code


def test_module_yaml_agrees_with_the_module() -> None:
    from atlas4d.modules.manifest import manifest_matches, read_manifest

    data = read_manifest(Path(str(module.migrations)).parent / "MODULE.yaml")
    assert manifest_matches(module, data) == []
    assert data["extensions"]["database"]["schema"] == "atlas4d_telecom"
    tables = set(data["extensions"]["database"]["tables"])
    sql = (module.migrations / "0001_telecom.sql").read_text()  # type: ignore[operator]
    assert tables == set(re.findall(r"CREATE TABLE IF NOT EXISTS atlas4d_telecom\.(\w+)", sql))
