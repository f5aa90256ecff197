"""Queries across core and the vision subgraph through our composer and gateway (in-process): what the
cameras saw with the core track and entity of each sighting, and core vehicles with their detections;
entity resolution batched (subgraph requests and SQL statements counted)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from module_helpers import migrate_module

from atlas4d.core.context import Context
from atlas4d.core.schema import build_core_schema
from atlas4d.db.pool import log_statements
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.modules.vision import module
from atlas4d.modules.vision.seed import seed
from atlas4d.settings import Settings

END = datetime(2026, 5, 2, tzinfo=UTC)
SIGHTINGS = """{
  cameras {
    name
    entity { kind name }
    detections(classes: ["car", "bus", "truck", "van"], first: 5) {
      time class linkDistance
      entity { name kind }
      track { id startTime endTime }
    }
  }
}"""
VEHICLES = """{
  entities(filter: {kinds: ["vehicle"]}, first: 100) {
    nodes { id name detections(first: 3) { entityId camera { name } track { id } } }
  }
}"""


@pytest.fixture
async def gateway(clean_db: asyncpg.Pool) -> AsyncIterator[Gateway]:
    await migrate_module(clean_db, module)
    await clean_db.execute("TRUNCATE atlas4d_vision.detections, atlas4d_vision.cameras")
    async with clean_db.acquire() as conn:
        await seed(conn, 5, end=END)
    core, vision = build_core_schema(), module.subgraph()
    sdl = compose(
        [
            SubgraphSource("core", "http://core/graphql", core.as_str()),
            SubgraphSource("vision", "http://vision/graphql", vision.as_str()),
        ]
    )
    gw = Gateway.from_supergraph(sdl, local={"core": core, "vision": vision})
    yield gw
    await gw.aclose()


def context(pool: asyncpg.Pool, settings: Settings) -> Context:
    return Context.create(pool, settings, loader_factories={"vision": module.loaders})  # type: ignore[dict-item]


async def test_camera_sightings_with_core_tracks_and_entities(
    clean_db: asyncpg.Pool, settings: Settings, gateway: Gateway
) -> None:
    with log_statements() as log:
        result: dict[str, Any] = await gateway.execute(SIGHTINGS, context=context(clean_db, settings))
    assert "errors" not in result, result
    # one core fetch per path (cameras' entities, detections' entities, detections' tracks), ready together:
    # one core request with three aliased _entities, run on one request context, so the two entity lookups
    # share one statement
    assert {name: s.requests for name, s in gateway.subgraphs.items()} == {"core": 1, "vision": 1}
    # vision: cameras, their detections; core: entities, tracks
    assert len(log) == 4, log.statements
    cameras = result["data"]["cameras"]
    assert len(cameras) == 6 and all(c["entity"] == {"kind": "camera", "name": c["name"]} for c in cameras)
    seen = [d for c in cameras for d in c["detections"]]
    assert len(seen) == 30
    for d in seen:
        assert d["entity"]["kind"] == "vehicle" and d["linkDistance"] <= 25
        assert d["track"]["startTime"] <= d["time"] <= d["track"]["endTime"]


async def test_core_vehicles_with_their_detections(
    clean_db: asyncpg.Pool, settings: Settings, gateway: Gateway
) -> None:
    with log_statements() as log:
        result: dict[str, Any] = await gateway.execute(VEHICLES, context=context(clean_db, settings))
    assert "errors" not in result, result
    assert len(log) == 3, log.statements  # core: entities; vision: detections, their cameras
    assert {name: s.requests for name, s in gateway.subgraphs.items()} == {"core": 1, "vision": 1}
    nodes = result["data"]["entities"]["nodes"]
    assert len(nodes) == 6
    assert all(n["detections"] and all(d["entityId"] == n["id"] for d in n["detections"]) for n in nodes)
