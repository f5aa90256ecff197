"""Telecom against Python oracles (date_bin buckets, anomaly runs) and batching counted at the driver:
one SQL statement per nested level."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from module_helpers import migrate_module, serve_modules
from test_telecom import END, TABLES, gql, insert_nodes

from atlas4d.db.pool import log_statements
from atlas4d.modules.telecom import module
from atlas4d.modules.telecom.seed import detect_anomalies
from atlas4d.modules.telecom.settings import TelecomSettings
from atlas4d.settings import Settings

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # date_bin's origin in queries.BUCKET_ORIGIN


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


# --- oracles ----------------------------------------------------------------------------------------------


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
