"""Mobility composed with core (@apollo/composition and ours), one query across both through our
gateway, and the docs page checked against the schema."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from module_helpers import migrate_module, serve_modules
from test_mobility import JS_DIR, TABLES, seed

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.db.pool import log_statements
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.modules.mobility import module
from atlas4d.modules.mobility.loaders import create_loaders
from atlas4d.modules.mobility.schema import build_mobility_schema
from atlas4d.settings import Settings


@pytest.fixture(scope="module")
async def migrated(pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate_module(pool, module)
    return pool


@pytest.fixture
async def db(clean_db: asyncpg.Pool, migrated: asyncpg.Pool) -> asyncpg.Pool:
    await clean_db.execute(f"TRUNCATE {TABLES}")
    return clean_db


@pytest.fixture(scope="module")
async def mclient(
    settings: Settings, database_url: str, migrated: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve_modules(settings, database_url, [module]):
        yield client


# --- composition and the gateway ---------------------------------------------------------------------------


def sources() -> list[SubgraphSource]:
    return [
        SubgraphSource("core", "http://core.test/graphql", build_core_schema().as_str()),
        SubgraphSource("mobility", "http://mobility.test/graphql", build_mobility_schema().as_str()),
    ]


def test_composes_with_core_in_apollo_composition() -> None:
    payload = [{"name": s.name, "url": s.url, "sdl": s.sdl} for s in sources()]
    done = subprocess.run(
        ["node", str(JS_DIR / "compose.js")], input=json.dumps(payload), capture_output=True, text=True,
        cwd=JS_DIR, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert "errors" not in result, result
    supergraph = result["supergraphSdl"]
    assert "vehicle: Vehicle @join__field(graph: MOBILITY)" in supergraph
    assert "trip: Trip @join__field(graph: MOBILITY)" in supergraph


async def test_a_query_across_core_and_mobility_through_the_gateway(
    db: asyncpg.Pool, settings: Settings
) -> None:
    await seed(db)
    gateway = Gateway.from_supergraph(
        compose(sources()), local={"core": build_core_schema(), "mobility": build_mobility_schema()}
    )
    context = Context.create(db, settings, loader_factories={"mobility": create_loaders})
    query = """{ entities(filter: {kinds: ["vehicle"]}, first: 50) { nodes {
        id name latestObservation { time speed }
        vehicle { kind label trips(first: 1) { distanceMeters endStop { name } track { pointCount } } } } } }"""
    with log_statements() as log:
        result = await gateway.execute(query, context=context)
    assert "errors" not in result, result
    nodes = result["data"]["entities"]["nodes"]
    assert len(nodes) == 6
    for n in nodes:
        assert n["vehicle"]["label"] == n["name"] and n["latestObservation"]["time"]
        assert n["vehicle"]["trips"][0]["track"]["pointCount"] >= 3
    # core: entities, latest observations; mobility: vehicles, trips, stops; core again: tracks
    assert len(log) == 6, "\n".join(s[:120] for s in log.statements)

    # starting in mobility: the speeding observation's own fields come from core, and agree
    query = """{ speedingEvents(first: 50) { speedKmh lon lat geofence { name }
        observation { speed lon lat entity { name } track { trip { vehicle { label } } } } } }"""
    result = await gateway.execute(query, context=context)
    await gateway.aclose()
    assert "errors" not in result, result
    events = result["data"]["speedingEvents"]
    assert len(events) == 50
    for e in events:
        o = e["observation"]
        assert o["speed"] * 3.6 == pytest.approx(e["speedKmh"]) and (o["lon"], o["lat"]) == (
            e["lon"],
            e["lat"],
        )
        assert o["track"]["trip"]["vehicle"]["label"] == o["entity"]["name"]


# --- docs -------------------------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "modules" / "mobility.md"


def test_the_docs_page_covers_every_field_and_setting_and_its_examples_validate() -> None:
    import re

    from graphql import GraphQLObjectType, parse, validate

    from atlas4d.federation.supergraph import Supergraph
    from atlas4d.modules.mobility.settings import MobilitySettings

    text = DOC.read_text()
    schema = build_mobility_schema()._schema
    for name in (
        "Query",
        "Vehicle",
        "Trip",
        "Stop",
        "Geofence",
        "SpeedingEvent",
        "DwellEvent",
        "Entity",
        "Track",
    ):
        gql_type = schema.type_map[name]
        assert isinstance(gql_type, GraphQLObjectType)
        for field, definition in gql_type.fields.items():
            if field.startswith("_") or (name in ("Entity", "Track") and field == "id"):
                continue
            assert re.search(rf"\b{field}\b", text), f"{name}.{field} is not documented"
            for arg in definition.args:
                assert re.search(rf"\b{arg}\b", text), f"{name}.{field}({arg}) is not documented"
    for setting in MobilitySettings.model_fields:
        assert f"ATLAS4D_MOBILITY_{setting.upper()}" in text
    api = Supergraph.parse(compose(sources())).api_schema
    examples = re.findall(r"```graphql\n(.*?)```", text, re.S)
    assert len(examples) >= 3
    for example in examples:
        assert validate(api, parse(example)) == []
