"""The ASGI application: GraphQL, the Core Spec REST endpoints and health, built by `create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from atlas4d.db.embedded import database_url
from atlas4d.db.migrate import core_migrations, migrate
from atlas4d.db.pool import create_pool
from atlas4d.settings import Settings


def create_app(settings: Settings, *, dsn: str | None = None, run_migrations: bool = True) -> Starlette:
    """The whole server. The pool is opened in the lifespan, so nothing connects at import or build time."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        url = dsn or database_url(settings)
        pool = await create_pool(settings, url)
        if run_migrations:
            async with pool.acquire() as conn:
                await migrate(conn, core_migrations())
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    routes: list[BaseRoute] = []
    routes.extend(_rest_routes())
    routes.extend(_graphql_routes(settings))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    return app


def _rest_routes() -> list[BaseRoute]:
    try:
        from atlas4d.rest import routes
    except ImportError:  # pragma: no cover - during bring-up only
        return []
    return routes()


def _graphql_routes(settings: Settings) -> list[BaseRoute]:
    try:
        from atlas4d.core.http import graphql_routes
    except ImportError:  # pragma: no cover - during bring-up only
        return []
    return graphql_routes(settings)


def pool_of(app: Starlette) -> asyncpg.Pool:
    pool: asyncpg.Pool = app.state.pool
    return pool
