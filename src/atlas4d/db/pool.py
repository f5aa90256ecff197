"""The asyncpg pool: codecs set once per connection, custom plans, a statement timeout.

`StatementLog` counts the statements a piece of work sends, through asyncpg's query logger, so tests
can prove batching ("100 entities with nested fields took 4 statements") at the driver level.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from atlas4d import __version__
from atlas4d.db.migrate import Migration, migrate
from atlas4d.observe import metrics, tracing
from atlas4d.settings import Settings

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)


_statement_log: contextvars.ContextVar[StatementLog | None] = contextvars.ContextVar(
    "atlas4d_statement_log", default=None
)


@contextmanager
def log_statements() -> Iterator[StatementLog]:
    """Record every statement sent in this context (and tasks it starts)."""
    log = StatementLog()
    token = _statement_log.set(log)
    try:
        yield log
    finally:
        _statement_log.reset(token)


@contextmanager
def unlogged() -> Iterator[None]:
    """Statements sent here are not recorded: per-request bookkeeping (the audit row), not the work a
    statement count is meant to prove."""
    token = _statement_log.set(None)
    try:
        yield
    finally:
        _statement_log.reset(token)


# asyncpg's own statements: the pool's reset on release, and type introspection on a connection's
# first use of a type (with its JIT guard). They are not ours, and not per batch.
_DRIVER_STATEMENTS = ("SELECT pg_advisory_unlock_all();", "WITH RECURSIVE typeinfo_tree")


def _is_driver_statement(query: str) -> bool:
    text = query.lstrip()
    return text.startswith(_DRIVER_STATEMENTS) or "current_setting('jit') AS cur" in text


def _on_query(record: Any) -> None:
    log = _statement_log.get()
    if log is not None and not _is_driver_statement(record.query):
        log.statements.append(record.query)
    metrics.sql_statement(record.elapsed, record.exception is not None)
    if tracing.tracing_on() and not _is_driver_statement(record.query):
        tracing.sql_span(record.query, record.elapsed, record.exception)


def _encode_geometry(geom: BaseGeometry | bytes) -> bytes:
    if isinstance(geom, bytes):
        return geom
    import shapely  # not at the top: `atlas4d ingest FILE` imports this module and needs no shapely

    if shapely.get_srid(geom) == 0:
        geom = shapely.set_srid(geom, 4326)
    return shapely.to_wkb(geom, include_srid=True, flavor="extended")  # type: ignore[no-any-return]


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda v: b"\x01" + orjson.dumps(v),
        decoder=lambda b: orjson.loads(b[1:]),
        format="binary",
    )
    await conn.set_type_codec(
        "json",
        schema="pg_catalog",
        encoder=orjson.dumps,
        decoder=orjson.loads,
        format="binary",
    )
    schema = await conn.fetchval(
        "SELECT n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typname = 'geometry'"
    )
    if schema is not None:
        from shapely import from_wkb  # here, not at the top (see _encode_geometry)

        await conn.set_type_codec(
            "geometry", schema=schema, encoder=_encode_geometry, decoder=from_wkb, format="binary"
        )
    conn.add_query_logger(_on_query)


def server_settings(settings: Settings) -> dict[str, str]:
    return {
        "application_name": f"atlas4d-gateway/{__version__}",
        # generic plans made a polygon filter 11x slower on 1M rows (docs/architecture.md)
        "plan_cache_mode": "force_custom_plan",
        "statement_timeout": str(settings.statement_timeout_ms),
        "jit": "off",
        # parallel workers halve throughput under concurrent requests on few cores (Q3 at c=16 on 2 cores:
        # 227 TPS with 2 workers per gather, 455 without); a gateway serves many small queries at once
        "max_parallel_workers_per_gather": str(settings.max_parallel_workers_per_gather),
        "timezone": "UTC",
    }


async def create_pool(settings: Settings, dsn: str) -> asyncpg.Pool:
    """The server's pool. With tenancy on, its connections run as `settings.db_role` (a non-owner role, so
    row-level security applies) and put the request's tenant in every transaction (atlas4d.auth.tenancy)."""
    options: dict[str, Any] = {}
    config = server_settings(settings)
    if settings.tenancy:
        from atlas4d.auth.tenancy import TenantConnection

        options["connection_class"] = TenantConnection
        config["role"] = settings.db_role
    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        init=init_connection,
        server_settings=config,
        timeout=settings.db_connect_timeout_s,
        **options,
    )
    assert pool is not None
    return pool


async def connect(settings: Settings, dsn: str) -> asyncpg.Connection:
    """A single connection set up like the pool's (CLI commands, migrations)."""
    conn = await asyncpg.connect(
        dsn, server_settings=server_settings(settings), timeout=settings.db_connect_timeout_s
    )
    await init_connection(conn)
    return conn


async def migrate_database(settings: Settings, dsn: str, migrations: list[Migration]) -> list[Migration]:
    """Apply `migrations` on a connection of their own, and return those applied.

    Codecs are registered when a connection opens, and only for types that exist then: on a new database the
    first migration creates PostGIS, so a connection opened before it has no geometry codec (COPY and
    geometry parameters fail on it). Work that follows a migration must therefore open its connections (or
    pool) after this returns — never migrate on the connection it then uses.
    """
    conn = await connect(settings, dsn)
    try:
        return await migrate(conn, migrations)
    finally:
        await conn.close()
