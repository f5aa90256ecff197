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
from conftest import migrate_module, serve_modules

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


# --- oracles ----------------------------------------------------------------------------------------------


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


def random_metrics(ids: list[uuid.UUID], rng: random.Random, samples: int) -> list[tuple[Any, ...]]:
    rows = []
    for node in ids:
        t = END
        for _ in range(samples):
            t += timedelta(seconds=rng.randrange(60, 900))  # irregular sampling
            fault = rng.random()
            down = fault < 0.05
            rows.append((
                node, t,
                0.0 if down else round(rng.uniform(0, 1000), 3),
                None if down else round(rng.choice([rng.uniform(1, 10), rng.uniform(30, 150)]), 2),
                100.0 if down else round(rng.choice([rng.uniform(0, 0.1), rng.uniform(0.5, 8)]), 3),
                round(rng.choice([rng.uniform(-24, -17), rng.uniform(-30, -26)]), 2),
                0.0 if down else round(rng.choice([rng.uniform(5, 80), rng.uniform(93, 100)]), 1),
                "down" if down else "up",
            ))  # fmt: skip
    return rows


COPY_COLUMNS = ("node_id", "t", "throughput_mbps", "latency_ms", "packet_loss_pct", "optical_power_dbm",
                "utilization_pct", "status")  # fmt: skip


def bucket_oracle(rows: list[tuple[Any, ...]], step: timedelta, lo: datetime, hi: datetime) -> dict[Any, Any]:
    groups: dict[tuple[str, datetime], list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        if lo <= r[1] < hi:
            start = ORIGIN + ((r[1] - ORIGIN) // step) * step
            groups[(str(r[0]), start)].append(r)

    def mean(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else None

    return {
        key: {
            "samples": len(g),
            "downSamples": sum(r[7] == "down" for r in g),
            "throughputMbps": mean([r[2] for r in g]),
            "maxLatencyMs": max((r[3] for r in g if r[3] is not None), default=None),
            "latencyMs": mean([r[3] for r in g]),
            "packetLossPct": mean([r[4] for r in g]),
            "minOpticalPowerDbm": min(r[5] for r in g),
            "utilizationPct": mean([r[6] for r in g]),
        }
        for key, g in groups.items()
    }


async def test_metric_buckets_match_a_python_oracle(db: asyncpg.Pool, tclient: httpx.AsyncClient) -> None:
    rng = random.Random(5)
    ids = await insert_nodes(db, 4)
    rows = random_metrics(ids, rng, 150)
    await db.copy_records_to_table(
        "metrics", schema_name="atlas4d_telecom", columns=COPY_COLUMNS, records=rows
    )
    fields = "nodeId start samples downSamples throughputMbps maxLatencyMs latencyMs packetLossPct minOpticalPowerDbm utilizationPct"
    lo, hi = END + timedelta(hours=3, minutes=7), END + timedelta(hours=20)
    for interval, step in (
        ("PT15M", timedelta(minutes=15)),
        ("PT1H", timedelta(hours=1)),
        ("P1D", timedelta(days=1)),
    ):
        expected = bucket_oracle(rows, step, lo, hi)
        data = await gql(
            tclient,
            f'query($ids: [ID!], $lo: DateTime, $hi: DateTime) {{ networkMetrics(nodeIds: $ids, interval: "{interval}", '
            f"time: {{from: $lo, to: $hi}}) {{ {fields} }} "
            f'networkNodes(ids: $ids) {{ id metrics(interval: "{interval}", time: {{from: $lo, to: $hi}}) {{ {fields} }} }} }}',
            {"ids": [str(i) for i in ids[1:]], "lo": lo.isoformat(), "hi": hi.isoformat()},
        )
        nested = [b for n in data["networkNodes"] for b in n["metrics"]]
        for got in (data["networkMetrics"], nested):
            keys = [(b["nodeId"], datetime.fromisoformat(b["start"])) for b in got]
            assert sorted(keys) == sorted(k for k in expected if k[0] != str(ids[0])), interval
            for b, key in zip(got, keys, strict=True):
                for name, value in expected[key].items():
                    assert b[name] == pytest.approx(value), (interval, key, name)
        assert [b["nodeId"] for b in data["networkMetrics"]] == sorted(
            (b["nodeId"] for b in data["networkMetrics"]), key=lambda n: [str(i) for i in ids].index(n)
        )  # grouped by node, in the order asked


def anomaly_oracle(rows: list[tuple[Any, ...]], s: TelecomSettings) -> set[tuple[Any, ...]]:
    def fault(r: tuple[Any, ...]) -> tuple[str, float] | None:
        _, _, _, latency, loss, power, util, status = r
        if status == "down":
            return "link_down", loss
        if util >= s.congestion_utilization_pct:
            return "congestion", util
        if loss >= s.packet_loss_pct:
            return "packet_loss", loss
        if latency is not None and latency >= s.high_latency_ms:
            return "high_latency", latency
        if power <= s.power_warning_dbm:
            return "power_warning", power
        return None

    out = set()
    by_node: dict[uuid.UUID, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        by_node[r[0]].append(r)
    for node, series in by_node.items():
        run: list[tuple[datetime, str, float]] = []
        for r in [*sorted(series, key=lambda r: r[1]), None]:
            f = fault(r) if r is not None else None
            if run and (f is None or f[0] != run[0][1]):
                kind = run[0][1]
                values = [v for _, _, v in run]
                peak = min(values) if kind == "power_warning" else max(values)
                out.add((node, kind, run[0][0], run[-1][0], len(run), round(peak, 6)))
                run = []
            if r is not None and f is not None:
                run.append((r[1], *f))
    return out


async def test_anomaly_detection_matches_a_python_oracle(
    db: asyncpg.Pool, tclient: httpx.AsyncClient
) -> None:
    rng = random.Random(9)
    ids = await insert_nodes(db, 5)
    rows = random_metrics(ids, rng, 200)
    await db.copy_records_to_table(
        "metrics", schema_name="atlas4d_telecom", columns=COPY_COLUMNS, records=rows
    )
    settings = TelecomSettings()
    async with db.acquire() as conn:
        count = await detect_anomalies(conn, ids, settings)
    expected = anomaly_oracle(rows, settings)
    assert count == len(expected) > 50
    data = await gql(
        tclient,
        "{ networkAnomalies(first: 10000) { type severity startedAt endedAt samples peakValue threshold node { id } } }",
    )
    got = {
        (uuid.UUID(a["node"]["id"]), a["type"].lower(), datetime.fromisoformat(a["startedAt"]),
         datetime.fromisoformat(a["endedAt"]), a["samples"], round(a["peakValue"], 6))
        for a in data["networkAnomalies"]
    }  # fmt: skip
    assert got == expected
    assert {a["type"] for a in data["networkAnomalies"]} == {
        "LINK_DOWN", "CONGESTION", "PACKET_LOSS", "HIGH_LATENCY", "POWER_WARNING"
    }  # fmt: skip
    # a time window keeps the anomalies overlapping it
    lo, hi = END + timedelta(hours=5), END + timedelta(hours=9)
    data = await gql(
        tclient,
        "query($lo: DateTime, $hi: DateTime) { networkAnomalies(time: {from: $lo, to: $hi}, first: 10000) { startedAt } }",
        {"lo": lo.isoformat(), "hi": hi.isoformat()},
    )
    assert len(data["networkAnomalies"]) == sum(1 for e in expected if e[3] >= lo and e[2] < hi)


# --- batching ---------------------------------------------------------------------------------------------

ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id networkNode {
  name kind entity { id }
  parent { name }
  children { name }
  links { medium from { name } to { name } }
  latestMetric { time status }
  metrics(interval: "PT1H") { start samples node { name } }
  anomalies(minSeverity: 1) { type node { name } } } } } }"""


async def test_entity_references_are_one_statement_per_level(
    db: asyncpg.Pool, tclient: httpx.AsyncClient
) -> None:
    ids = await insert_nodes(db, 51)
    rows = random_metrics(ids, random.Random(2), 12)
    await db.copy_records_to_table(
        "metrics", schema_name="atlas4d_telecom", columns=COPY_COLUMNS, records=rows
    )
    async with db.acquire() as conn:
        await detect_anomalies(conn, ids, TelecomSettings())
    cpes = ids[1:]
    reps = [{"__typename": "Entity", "id": str(i)} for i in cpes]
    with log_statements() as log:
        data = await gql(tclient, ENTITIES, {"r": reps})
    got = data["_entities"]
    assert [e["id"] for e in got] == [str(i) for i in cpes]
    for e in got:  # complete answers, so the count is not low because fields came back empty
        node = e["networkNode"]
        assert node["parent"] == {"name": "node 001"} and node["children"] == []
        assert (
            node["links"][0]["from"]["name"] == "node 001" and node["links"][0]["to"]["name"] == node["name"]
        )
        assert node["latestMetric"]["time"] and node["metrics"]
        assert all(b["node"]["name"] == node["name"] for b in node["metrics"])
    assert sum(len(e["networkNode"]["anomalies"]) for e in got) > 10
    # nodes; then parent, children, links, latest metric, metrics, anomalies (one each);
    # link ends, bucket and anomaly nodes: one batch of the node loader for the ids not loaded yet
    assert len(log) == 8, "\n".join(s[:120] for s in log.statements)


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


# --- composition and the gateway ---------------------------------------------------------------------------


def sources(*extra: str) -> list[SubgraphSource]:
    out = [
        SubgraphSource("core", "http://core.test/graphql", build_core_schema().as_str()),
        SubgraphSource("telecom", "http://telecom.test/graphql", build_telecom_schema().as_str()),
    ]
    if "mobility" in extra:
        out.append(
            SubgraphSource("mobility", "http://mobility.test/graphql", build_mobility_schema().as_str())
        )
    return out


@pytest.mark.parametrize("extra", [(), ("mobility",)])
def test_composes_in_apollo_composition(extra: tuple[str, ...]) -> None:
    payload = [{"name": s.name, "url": s.url, "sdl": s.sdl} for s in sources(*extra)]
    done = subprocess.run(
        ["node", str(JS_DIR / "compose.js")], input=json.dumps(payload), capture_output=True, text=True,
        cwd=JS_DIR, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert "errors" not in result, result
    assert "networkNode: NetworkNode @join__field(graph: TELECOM)" in result["supergraphSdl"]
    compose(sources(*extra))  # and in ours


async def test_entities_in_a_bbox_with_network_node_and_latest_observation(
    db: asyncpg.Pool, settings: Settings
) -> None:
    async with db.acquire() as conn:
        await load_burgas(conn, seed=42, end=END)
        await seed_telecom(conn, 42, end=END)
    gateway = Gateway.from_supergraph(
        compose(sources()), local={"core": build_core_schema(), "telecom": build_telecom_schema()}
    )
    context = Context.create(db, settings, loader_factories={"telecom": create_loaders})
    query = """{ entities(first: 100, filter: {kinds: ["olt", "switch", "cpe"],
                   observations: {bbox: {minLon: 27.35, minLat: 42.45, maxLon: 27.47, maxLat: 42.55}}}) {
      nodes { id name latestObservation { time lon lat }
              networkNode { kind vendor parent { name } anomalies { type severity } } } } }"""
    with log_statements() as log:
        result = await gateway.execute(query, context=context)
    assert "errors" not in result, result
    nodes = result["data"]["entities"]["nodes"]
    expected = await db.fetchval(
        "SELECT count(*) FROM atlas4d_telecom.nodes WHERE ST_X(geom) <= 27.47 AND ST_X(geom) >= 27.35"
    )
    assert len(nodes) == expected > 3
    for n in nodes:
        assert n["networkNode"]["kind"].lower() in {"olt", "switch", "cpe"} and n["networkNode"]["vendor"]
        assert n["latestObservation"]["lon"] <= 27.47 and n["latestObservation"]["time"]
    # core: entities, latest observations; telecom: nodes, parents, anomalies
    assert len(log) == 5, "\n".join(s[:120] for s in log.statements)


# --- docs -------------------------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "modules" / "telecom.md"


def test_the_docs_page_covers_every_field_and_setting_and_its_examples_validate() -> None:
    import re

    from graphql import GraphQLObjectType, parse, validate

    from atlas4d.federation.supergraph import Supergraph

    text = DOC.read_text()
    schema = build_telecom_schema()._schema
    names = (
        "Query",
        "Entity",
        "NetworkNode",
        "NetworkLink",
        "NetworkMetricSample",
        "NetworkMetricBucket",
        "NetworkAnomaly",
    )
    for name in names:
        gql_type = schema.type_map[name]
        assert isinstance(gql_type, GraphQLObjectType)
        for field, definition in gql_type.fields.items():
            if field.startswith("_") or (name == "Entity" and field == "id"):
                continue
            assert re.search(rf"\b{field}\b", text), f"{name}.{field} is not documented"
            for arg in definition.args:
                assert re.search(rf"\b{arg}\b", text), f"{name}.{field}({arg}) is not documented"
    for setting in TelecomSettings.model_fields:
        assert f"ATLAS4D_TELECOM_{setting.upper()}" in text
    api = Supergraph.parse(compose(sources())).api_schema
    examples = re.findall(r"```graphql\n(.*?)```", text, re.S)
    assert len(examples) >= 3
    for example in examples:
        assert validate(api, parse(example)) == []
