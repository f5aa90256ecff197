"""One query across core and the airspace subgraph through our composer and gateway (in-process):
flights with their zone violations, entity resolution batched (subgraph requests and SQL counted)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from graphql import parse, validate
from module_helpers import migrate_module
from test_airspace import END, oracle_inputs, oracle_violations

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.db.pool import log_statements
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.supergraph import Supergraph
from atlas4d.modules.airspace import module
from atlas4d.modules.airspace.seed import seed
from atlas4d.settings import Settings

JS_DIR = Path(__file__).resolve().parents[1] / "js"
FLIGHTS = """{
  aircraft {
    icao24 callsign
    entity { kind name latestObservation { altitude }
      tracks(first: 10) { id pointCount lengthMeters
        violations { zone { name kind } enteredAt exitedAt minAltitude maxAltitude } } }
  }
}"""


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    core, airspace = build_core_schema(), module.subgraph()
    sdl = compose(
        [
            SubgraphSource("core", "http://core/graphql", core.as_str()),
            SubgraphSource("airspace", "http://airspace/graphql", airspace.as_str()),
        ]
    )
    gw = Gateway.from_supergraph(sdl, local={"core": core, "airspace": airspace})
    yield gw
    await gw.aclose()


async def test_flights_with_their_zone_violations(
    clean_db: asyncpg.Pool, settings: Settings, gateway: Gateway
) -> None:
    await migrate_module(clean_db, module)
    await clean_db.execute("TRUNCATE atlas4d_airspace.aircraft, atlas4d_airspace.restricted_zones")
    async with clean_db.acquire() as conn:
        await seed(conn, 7, end=END)
    context = Context.create(clean_db, settings, loader_factories={"airspace": module.loaders})  # type: ignore[dict-item]
    with log_statements() as log:
        result: dict[str, Any] = await gateway.execute(FLIGHTS, context=context)
    assert "errors" not in result, result
    # aircraft; core: entities, latest observations, tracks; airspace: violations, their zones
    assert len(log) == 6, log.statements
    assert {name: s.requests for name, s in gateway.subgraphs.items()} == {"core": 1, "airspace": 2}
    aircraft = result["data"]["aircraft"]
    assert len(aircraft) == 8 and all(a["entity"]["kind"] == "aircraft" for a in aircraft)
    assert all(a["entity"]["latestObservation"]["altitude"] is not None for a in aircraft)
    zones, observations = await oracle_inputs(clean_db)
    kinds = {z.id: z.kind for z in zones}
    expected = {
        (track, kinds[zone], v[0], v[2], v[3])
        for (track, zone), v in oracle_violations(zones, observations).items()
    }
    found = {
        (t["id"], v["zone"]["kind"], v["enteredAt"], v["minAltitude"], v["maxAltitude"])
        for a in aircraft
        for t in a["entity"]["tracks"]
        for v in t["violations"]
    }
    assert found == expected
    assert sum(len(a["entity"]["tracks"]) for a in aircraft) == 16


def test_doc_examples_validate_against_the_supergraph() -> None:
    sdl = compose(
        [
            SubgraphSource("core", "http://core/graphql", build_core_schema().as_str()),
            SubgraphSource("airspace", "http://airspace/graphql", module.subgraph().as_str()),
        ]
    )
    api = Supergraph.parse(sdl).api_schema
    doc = (Path(__file__).resolve().parents[2] / "docs" / "modules" / "airspace.md").read_text(
        encoding="utf-8"
    )
    examples = re.findall(r"```graphql\n(.*?)```", doc, re.S)
    assert len(examples) >= 3
    for example in examples:
        assert validate(api, parse(example)) == [], example


@pytest.mark.npm
def test_composes_with_core_under_apollo_composition() -> None:
    services = [
        {"name": "core", "url": "http://core/graphql", "sdl": build_core_schema().as_str()},
        {"name": "airspace", "url": "http://airspace/graphql", "sdl": module.subgraph().as_str()},
    ]
    done = subprocess.run(["node", str(JS_DIR / "compose.js")], input=json.dumps(services), capture_output=True,
                          text=True, cwd=JS_DIR, timeout=120, check=True)  # fmt: skip
    result = json.loads(done.stdout)
    assert "errors" not in result, result
    assert 'type Entity\n  @join__type(graph: AIRSPACE, key: "id")' in result["supergraphSdl"]
    assert "aircraft: Aircraft @join__field(graph: AIRSPACE)" in result["supergraphSdl"]
