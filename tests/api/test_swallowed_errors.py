"""An exception that is answered with something else than itself (a masked INTERNAL, "unhealthy", a
fallback) is logged with the request id the response carries, so an operator can find it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from atlas4d.app import create_app
from atlas4d.core.ingest import EntityItem, create_entities
from atlas4d.modules.mobility import module as mobility
from atlas4d.platform import InProcessSubgraph
from atlas4d.settings import Settings

REQUEST_ID = "swallowed-1234"


@pytest.fixture
async def platform(settings: Settings, database_url: str) -> AsyncIterator[Starlette]:
    app = create_app(settings, dsn=database_url, modules=[mobility])
    async with app.router.lifespan_context(app):
        yield app


async def post(app: Starlette, query: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/graphql", json={"query": query}, headers={"x-request-id": REQUEST_ID})
    body: dict[str, Any] = response.json()
    return body


async def test_a_failing_local_subgraph_is_logged_with_the_request_id(
    clean_db: asyncpg.Pool,
    platform: Starlette,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await create_entities(clean_db, [EntityItem(kind="vehicle", name="bus 1")], max_batch=10)

    async def broken(self: InProcessSubgraph, *args: Any, **kwargs: Any) -> Any:
        if self.name == "mobility":
            raise RuntimeError("a bug in a module's resolver machinery")
        return await original(self, *args, **kwargs)

    original = InProcessSubgraph.fetch
    monkeypatch.setattr(InProcessSubgraph, "fetch", broken)
    with caplog.at_level(logging.ERROR, logger="atlas4d.federation"):
        body = await post(platform, "{ entities(first: 2) { nodes { id vehicle { label } } } }")
    assert any(e["extensions"]["code"] == "INTERNAL" for e in body["errors"]), body
    logged = [r for r in caplog.records if REQUEST_ID in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback, not only the code
    assert "mobility" in logged[0].getMessage()


async def test_a_failed_health_probe_is_logged_with_the_request_id(
    platform: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def acquire(self) -> Any:
            raise OSError("connection refused")

    pool = platform.state.pool
    platform.state.pool = Broken()
    try:
        transport = httpx.ASGITransport(app=platform)
        with caplog.at_level(logging.WARNING, logger="atlas4d.rest"):
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/health", headers={"x-request-id": REQUEST_ID})
    finally:
        platform.state.pool = pool
    assert response.json()["postgres"] == "unhealthy" and response.headers["x-request-id"] == REQUEST_ID
    assert any(
        REQUEST_ID in r.getMessage() and "connection refused" in r.getMessage() for r in caplog.records
    )
