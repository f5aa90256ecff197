"""Telecom composed with core (and with mobility) in @apollo/composition and ours; through our gateway,
entities in a bbox with their network node, and one query across core, mobility and telecom; the docs page
checked against the schema."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import asyncpg
import pytest
from module_helpers import migrate_module
from test_telecom import END, JS_DIR, TABLES

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.db.pool import log_statements
from atlas4d.demo import load_burgas
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.modules.mobility.schema import build_mobility_schema
from atlas4d.modules.telecom import module
from atlas4d.modules.telecom.loaders import create_loaders
from atlas4d.modules.telecom.schema import build_telecom_schema
from atlas4d.modules.telecom.seed import seed_telecom
from atlas4d.modules.telecom.settings import TelecomSettings
from atlas4d.settings import Settings


@pytest.fixture(scope="module")
async def migrated(pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate_module(pool, module)
    return pool


@pytest.fixture
async def db(clean_db: asyncpg.Pool, migrated: asyncpg.Pool) -> asyncpg.Pool:
    await clean_db.execute(f"TRUNCATE {TABLES}")
    return clean_db


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


CROSS = """{ entities(first: 100, filter: {kinds: ["vehicle", "olt"]}) { nodes {
  kind name latestObservation { time speed }
  vehicle { kind label trips(first: 1) { endStop { name } } }
  networkNode { kind children { name } metrics(interval: "PT6H") { samples } } } } }"""


async def test_one_query_across_core_mobility_and_telecom(db: asyncpg.Pool, settings: Settings) -> None:
    from atlas4d.modules.mobility import module as mobility
    from atlas4d.modules.mobility.loaders import create_loaders as mobility_loaders
    from atlas4d.modules.mobility.seed import seed_mobility

    await migrate_module(db, mobility)
    await db.execute(
        "TRUNCATE atlas4d_mobility.vehicles, atlas4d_mobility.trips, atlas4d_mobility.stops CASCADE"
    )
    async with db.acquire() as conn:
        await load_burgas(conn, seed=42, end=END)
        await seed_mobility(conn, 42, end=END)
        await seed_telecom(conn, 42, end=END)
    core, mob, tel = build_core_schema(), build_mobility_schema(), build_telecom_schema()
    gateway = Gateway.from_supergraph(
        compose(sources("mobility")), local={"core": core, "mobility": mob, "telecom": tel}
    )
    factories = {"mobility": mobility_loaders, "telecom": create_loaders}
    context = Context.create(db, settings, loader_factories=factories)
    with log_statements() as log:
        result = await gateway.execute(CROSS, context=context)
    await gateway.aclose()
    assert "errors" not in result, result
    nodes = result["data"]["entities"]["nodes"]
    vehicles = [n for n in nodes if n["kind"] == "vehicle"]
    olts = [n for n in nodes if n["kind"] == "olt"]
    assert (len(vehicles), len(olts)) == (24, 3)
    assert all(v["vehicle"]["label"] == v["name"] and v["networkNode"] is None for v in vehicles)
    assert all(o["vehicle"] is None and o["networkNode"]["kind"] == "OLT" for o in olts)
    assert all(o["networkNode"]["metrics"] and o["networkNode"]["children"] for o in olts)
    assert all(n["latestObservation"]["time"] for n in nodes)
    # core: entities, latest observations; mobility: vehicles, trips, stops; telecom: nodes, children, metrics
    assert len(log) == 8, "\n".join(s[:120] for s in log.statements)


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
