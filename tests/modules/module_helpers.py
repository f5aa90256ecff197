"""Helpers for module tests: a module's migrations applied to the test database, and a client for an app
serving that module's subgraph at /subgraphs/<name>/graphql (plus core's).

A plain module with its own name, not conftest.py: `from conftest import …` resolves to whichever conftest.py
Python imported first, which depends on the order the test folders run in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from atlas4d.app import create_app
from atlas4d.db.migrate import load_migrations, migrate
from atlas4d.modules.contract import Module
from atlas4d.settings import Settings


async def migrate_module(pool: asyncpg.Pool, module: Module) -> None:
    assert module.migrations is not None
    async with pool.acquire() as conn:
        await migrate(conn, load_migrations(module.name, module.migrations))


async def serve_modules(
    settings: Settings, database_url: str, modules: list[Module]
) -> AsyncIterator[httpx.AsyncClient]:
    """Use as: `async for client in serve_modules(...)` inside a fixture."""
    app = create_app(settings, dsn=database_url, modules=modules)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def subgraph_data(
    client: httpx.AsyncClient, module: str, query: str, variables: dict[str, Any] | None = None
) -> Any:
    """`data` of `query` on /subgraphs/<module>/graphql, asserting the answer has no errors."""
    r = await client.post(f"/subgraphs/{module}/graphql", json={"query": query, "variables": variables or {}})
    body = r.json()
    assert "errors" not in body, body
    return body["data"]
