"""A small checksummed migrator.

Each module has one folder of `NNNN_name.sql` files. Applied files are recorded in
`atlas4d.schema_migrations(module, version, checksum)`. A session-level advisory lock serialises
replicas that start together; each file runs in its own transaction; a recorded file whose checksum no
longer matches is refused (edit history by adding a file, never by changing one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from atlas4d.errors import MigrationError

Conn = asyncpg.Connection | PoolConnectionProxy
ADVISORY_LOCK_KEY = 0x41544C34  # "ATL4"

BOOTSTRAP_SQL = """
CREATE SCHEMA IF NOT EXISTS atlas4d;
CREATE TABLE IF NOT EXISTS atlas4d.schema_migrations (
    module text NOT NULL,
    version text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (module, version)
);
"""


@dataclass(frozen=True)
class Migration:
    module: str
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(module: str, folder: Traversable | Path) -> list[Migration]:
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [Migration(module, f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def core_migrations() -> list[Migration]:
    return load_migrations("core", resources.files("atlas4d.migrations") / "core")


@dataclass(frozen=True)
class MigrationState:
    module: str
    version: str
    applied: bool


async def migration_states(conn: Conn, migrations: list[Migration]) -> list[MigrationState]:
    await conn.execute(BOOTSTRAP_SQL)
    applied = await _applied(conn)
    return [MigrationState(m.module, m.version, (m.module, m.version) in applied) for m in migrations]


async def _applied(conn: Conn) -> dict[tuple[str, str], str]:
    rows = await conn.fetch("SELECT module, version, checksum FROM atlas4d.schema_migrations")
    return {(r["module"], r["version"]): r["checksum"] for r in rows}


async def migrate(conn: Conn, migrations: list[Migration]) -> list[Migration]:
    """Apply what is missing, in order; returns the migrations applied now."""
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(BOOTSTRAP_SQL)
        applied = await _applied(conn)
        for m in migrations:
            recorded = applied.get((m.module, m.version))
            if recorded is not None and recorded != m.checksum:
                raise MigrationError(
                    f"migration {m.module}/{m.version} was edited after it was applied "
                    f"(recorded checksum {recorded[:12]}…, file {m.checksum[:12]}…); "
                    "add a new migration instead of changing an applied one"
                )
        done: list[Migration] = []
        for m in migrations:
            if (m.module, m.version) in applied:
                continue
            try:
                async with conn.transaction():
                    # the request timeout is not a migration's: building an index on 10M rows takes minutes
                    await conn.execute("SET LOCAL statement_timeout = 0")
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO atlas4d.schema_migrations (module, version, checksum) VALUES ($1, $2, $3)",
                        m.module,
                        m.version,
                        m.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {m.module}/{m.version} failed: {exc}") from exc
            done.append(m)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
