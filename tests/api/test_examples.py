"""Every example operation in graphql/examples (and so every query in the README) runs against the Burgas
demo of core and all reference modules, through the gateway, and returns data without errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atlas4d.app import create_app
from atlas4d.demo import load_burgas
from atlas4d.modules.registry import discover
from atlas4d.settings import Settings

EXAMPLES = sorted((Path(__file__).parents[2] / "graphql" / "examples").glob("*.graphql"))
README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
async def demo_client(settings: Settings, database_url: str, pool: Any) -> AsyncIterator[httpx.AsyncClient]:
    modules = [d.module for d in discover().values()]
    app = create_app(settings, dsn=database_url, modules=modules)
    async with app.router.lifespan_context(app):  # migrates core and the modules
        async with pool.acquire() as conn:
            await conn.execute(
                "TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.anomalies, atlas4d.tracks"
            )
            await load_burgas(conn, seed=42)
            for m in sorted(modules, key=lambda m: m.name):
                if m.seed is not None:
                    await m.seed(conn, 42)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def non_empty(value: Any) -> bool:
    if isinstance(value, dict):
        return any(non_empty(v) for v in value.values())
    if isinstance(value, list):
        return bool(value) and all(non_empty(v) for v in value)
    return value is not None


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
async def test_example_runs_on_the_demo(demo_client: httpx.AsyncClient, path: Path) -> None:
    query = path.read_text(encoding="utf-8")
    r = await demo_client.post("/graphql", json={"query": query})
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    for field, value in body["data"].items():
        assert non_empty(value), f"{path.name}: {field} came back empty"


def test_readme_queries_are_examples() -> None:
    bodies = {" ".join(p.read_text().split("\n", 1)[1].split()) for p in EXAMPLES}
    blocks = README.split("```graphql")[1:]
    assert len(blocks) >= 4
    for block in blocks:
        text = " ".join(block.split("```")[0].split())
        assert text in bodies, f"README query is not in graphql/examples: {text[:80]}"
