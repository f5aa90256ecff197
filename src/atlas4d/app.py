"""The ASGI application: GraphQL, subgraphs, the Core Spec REST endpoints and health, built by `create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from atlas4d.auth.http import security_middleware
from atlas4d.db.availability import UNREACHABLE, UnavailablePool, describe, keep_trying
from atlas4d.db.embedded import database_url
from atlas4d.db.migrate import Migration, core_migrations, load_migrations
from atlas4d.db.pool import connect as open_connection
from atlas4d.db.pool import create_pool, migrate_database
from atlas4d.db.replicas import ReadRouter
from atlas4d.errors import Atlas4DError
from atlas4d.modules.contract import Module
from atlas4d.observe.setup import observability_middleware, pool_sampler, setup_observability
from atlas4d.settings import Settings
from atlas4d.streaming.broker import Broker, PostgresBroker
from atlas4d.streaming.hub import Hub
from atlas4d.web.cors import cors_middleware
from atlas4d.web.graphiql import graphiql_routes
from atlas4d.web.map import map_routes
from atlas4d.web.middleware import graphql_error_body, request_limits
from atlas4d.web.subgraph_access import is_subgraph_path, subgraph_access

log = logging.getLogger("atlas4d.app")


def all_migrations(modules: Sequence[Module]) -> list[Migration]:
    """Core first, then each module's, in module name order."""
    out = core_migrations()
    for m in sorted(modules, key=lambda m: m.name):
        if m.migrations is not None:
            out.extend(load_migrations(m.name, m.migrations))
    return out


async def prepare_tenancy_on(settings: Settings, url: str) -> None:
    """Roles, grants and policies for tenancy, on a connection of the database URL's (owner) user."""
    from atlas4d.auth.tenancy import prepare_tenancy

    conn = await open_connection(settings, url)
    try:
        await prepare_tenancy(conn, settings.db_role)
    finally:
        await conn.close()


async def prune_audit_on(settings: Settings, url: str) -> None:
    """Apply the audit retention once per start (the trail is append-only; only this deletes)."""
    from atlas4d.auth.audit import prune

    conn = await open_connection(settings, url)
    try:
        await prune(conn, settings.audit_retention_days)
    finally:
        await conn.close()


def create_app(
    settings: Settings,
    *,
    dsn: str | None = None,
    run_migrations: bool = True,
    modules: Sequence[Module] | None = None,
    subgraph: str | None = None,
) -> Starlette:
    """The whole server. `modules=None` means the enabled installed modules; `subgraph="NAME"` serves that
    one subgraph alone at /graphql (what another gateway would call). The pool is opened in the lifespan,
    so nothing connects at import or build time."""
    if modules is None:
        from atlas4d.modules.registry import enabled_modules

        modules = enabled_modules(settings)
    mods = list(modules)
    setup_observability(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        url = dsn or database_url(settings)

        async def connect() -> asyncpg.Pool:
            if run_migrations:
                # before the pool opens: its connections register the geometry codec only if PostGIS exists,
                # which on a new database the first migration creates
                await migrate_database(settings, url, all_migrations(mods))
                await prune_audit_on(settings, url)
            if settings.tenancy:
                await prepare_tenancy_on(settings, url)
            pool = await create_pool(settings, url)
            if settings.tenancy:
                from atlas4d.auth.tenancy import check_tenancy

                try:
                    await check_tenancy(pool)  # refuse to serve if the pool's role would bypass RLS
                except BaseException:
                    await pool.close()
                    raise
            return pool

        def connected(pool: asyncpg.Pool) -> None:
            app.state.pool = pool

        retrying: asyncio.Task[None] | None = None
        try:
            app.state.pool = await connect()
        except (
            UNREACHABLE
        ) as exc:  # start degraded, as the original did, and keep trying (db/availability.py)
            log.warning("database unreachable at start (%s): serving degraded, retrying", describe(exc))
            app.state.pool = UnavailablePool(describe(exc))
            retrying = asyncio.create_task(keep_trying(connect, connected, settings.db_retry_max_s))
        app.state.stream_hub = stream_hub(settings, lambda: app.state.pool, url, mods)
        app.state.read_router = ReadRouter.of(settings, lambda: app.state.pool)
        if app.state.read_router is not None:
            await app.state.read_router.start()
        sampler = pool_sampler(lambda: app.state.pool)
        maintenance: asyncio.Task[None] | None = None
        if settings.maintain_interval_s > 0:  # partitions ahead and retention (db/partition.py)
            from atlas4d.db.partition import Duration, run_periodically

            maintenance = asyncio.create_task(
                run_periodically(
                    lambda: open_connection(settings, url),
                    every_s=settings.maintain_interval_s,
                    retention=Duration.parse(settings.retention) if settings.retention else None,
                    ahead=settings.partitions_ahead,
                )
            )
        if settings.gc_freeze:
            # Schemas, plans and imported code are ~70k long-lived objects that every full collection would
            # walk again; a 1,000-row page allocates enough to trigger several. Measured: building a Q1 page
            # 2.3 -> 0.9 ms per request.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if sampler is not None:
                sampler.cancel()
            if maintenance is not None:
                maintenance.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await maintenance
            if retrying is not None:
                retrying.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retrying
            await app.state.stream_hub.aclose()
            if app.state.read_router is not None:
                await app.state.read_router.aclose()
            await app.state.pool.close()
            await limiter.aclose()

    routes: list[BaseRoute] = []
    routes.extend(_rest_routes())
    routes.extend(graphiql_routes())
    if settings.metrics:
        from starlette.routing import Route

        from atlas4d.observe.metrics import metrics_endpoint

        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    if settings.map_page and subgraph is None:
        routes.extend(map_routes())
    gateway: object | None = None
    if subgraph is None:
        graphql, gateway = _graphql_routes(settings, mods)
        routes.extend(graphql)
    else:
        routes.extend(_single_subgraph_routes(settings, mods, subgraph))
    from atlas4d.rest.cors import rest_cors_middleware
    from atlas4d.rest.errors import http_error_handlers

    security, limiter = security_middleware(settings)
    guarded = (
        is_subgraph_path if subgraph is None else (lambda path: path == "/graphql" or is_subgraph_path(path))
    )
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            *observability_middleware(),  # latency metrics and the request's span around everything
            # app-wide CORS when ATLAS4D_CORS_ORIGINS is set; unset, the REST face stays open as in the original
            *(
                cors_middleware(settings.cors_origins, settings.cors_max_age)
                or rest_cors_middleware(settings.cors_max_age)
            ),
            request_limits(settings, _error_body),  # request id, body timeout, deadline (docs/security.md)
            *([subgraph_access(settings.subgraph_secret, guarded)] if settings.subgraph_secret else []),
            security,  # credentials -> Principal, permissions, rate limits, tenant (atlas4d.auth)
        ],
        exception_handlers=http_error_handlers(),
    )
    app.state.settings = settings
    app.state.modules = mods
    # what /ready compares with the database and reports (atlas4d.observe.ready)
    app.state.expected_migrations = [(m.module, m.version) for m in all_migrations(mods)]
    app.state.gateway = gateway
    app.state.subgraph = subgraph
    return app


def _error_body(path: str, error: Atlas4DError) -> tuple[int, bytes]:
    """A refusal by the request middleware, in the shape of the route family it reached."""
    if path.startswith(("/api/", "/ingest/", "/health", "/ready")):
        from atlas4d.rest.errors import error_response

        response = error_response(error)
        return response.status_code, bytes(response.body)
    return graphql_error_body(path, error)


def stream_hub(
    settings: Settings, pool: Callable[[], asyncpg.Pool], url: str, modules: Sequence[Module] = ()
) -> Hub:
    """The process's subscription hub (it LISTENs only once someone subscribes; `pool` is read when used, as
    a server started without its database gets its pool later): core's topics and the enabled modules'."""
    from atlas4d.core.live import core_topics

    broker: Broker = PostgresBroker(url)
    if settings.stream_broker != "postgres":
        from atlas4d.streaming.relay import RelayBroker, bus_for

        default = settings.redis_url if settings.stream_broker == "redis" else "nats://127.0.0.1:4222"
        bus_url = settings.stream_broker_url or default or "redis://127.0.0.1:6379"
        bus = bus_for(settings.stream_broker, bus_url, settings.stream_subject)
        broker = RelayBroker(url, bus, name=settings.stream_broker)
    topics = [*core_topics(), *(t for m in modules if m.live_topics for t in m.live_topics())]
    return Hub(pool, broker, topics, batch_rows=settings.stream_batch_rows)


def _rest_routes() -> list[BaseRoute]:
    """The Core Spec REST endpoints, the bulk ingest endpoint and the readiness probe."""
    from starlette.routing import Route

    from atlas4d.bulk import routes as bulk_routes
    from atlas4d.observe.ready import ready
    from atlas4d.rest import routes

    return [*routes(), *bulk_routes(), Route("/ready", ready, methods=["GET"])]


def _graphql_routes(settings: Settings, modules: Sequence[Module]) -> tuple[list[BaseRoute], object]:
    """/graphql is the gateway over core + modules; each subgraph is also served alone."""
    from atlas4d.core.http import graphql_routes
    from atlas4d.modules.serving import module_routes
    from atlas4d.platform import gateway_routes

    gateway, built = gateway_routes(settings, modules)
    if not settings.subgraph_routes and not settings.subgraph_secret:
        return (
            gateway,
            built,
        )  # production: `_service` and `_entities` are not for the public (docs/security.md)
    core = [r for r in graphql_routes(settings, modules) if getattr(r, "path", "") != "/graphql"]
    return [*gateway, *core, *module_routes(modules, settings)], built


def _single_subgraph_routes(settings: Settings, modules: Sequence[Module], name: str) -> list[BaseRoute]:
    from starlette.routing import Route

    from atlas4d.core.http import graphql_routes
    from atlas4d.modules.serving import module_routes

    if name == "core":
        return graphql_routes(settings, modules)  # /graphql and /subgraphs/core/graphql, HTTP and WebSocket
    else:
        chosen = [m for m in modules if m.name == name]
        if not chosen:
            known = ", ".join(["core", *sorted(m.name for m in modules)])
            raise ValueError(f"no subgraph named {name!r} (known: {known})")
        routes = module_routes(chosen, settings)
    endpoint = next(r for r in routes if isinstance(r, Route) and r.path.startswith("/subgraphs/"))
    assert isinstance(endpoint, Route)
    return [Route("/graphql", endpoint.endpoint, methods=["GET", "POST"]), endpoint]


def pool_of(app: Starlette) -> asyncpg.Pool:
    pool: asyncpg.Pool = app.state.pool
    return pool
