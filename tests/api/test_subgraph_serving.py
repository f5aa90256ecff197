"""Each subgraph can be served alone (`atlas4d serve --subgraph NAME`) and is mounted at
/subgraphs/NAME/graphql by the main server; both answer `_service { sdl }` like any Federation 2 subgraph."""

from __future__ import annotations

import httpx
import pytest

from atlas4d.app import create_app
from atlas4d.modules.registry import discover
from atlas4d.settings import Settings

SDL = "{ _service { sdl } }"


@pytest.mark.parametrize("name", ["core", "airspace"])
async def test_a_subgraph_served_alone(settings: Settings, database_url: str, name: str) -> None:
    modules = [d.module for d in discover().values()]
    app = create_app(settings, dsn=database_url, modules=modules, subgraph=name)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            alone = (await client.post("/graphql", json={"query": SDL})).json()
            mounted = (await client.post(f"/subgraphs/{name}/graphql", json={"query": SDL})).json()
    sdl = alone["data"]["_service"]["sdl"]
    assert sdl == mounted["data"]["_service"]["sdl"]
    assert '@link(url: "https://specs.apollo.dev/federation/v2.7"' in sdl
    assert 'type Entity @key(fields: "id")' in sdl


def test_an_unknown_subgraph_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="no subgraph named 'nope'"):
        create_app(settings, modules=[], subgraph="nope")
