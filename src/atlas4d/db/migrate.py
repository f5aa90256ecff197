"""A small checksummed migrator.

Each module has one folder of `NNNN_name.sql` files. Applied files are recorded in
`atlas4d.schema_migrations(module, version, checksum)`. A session-level advisory lock serialises
replicas that start together; each file runs in its own transaction; a recorded file whose checksum no
longer matches is refused (edit history by adding a file, never by changing one).

Two kinds of file (docs/migrations.md):

- **transactional** (the default): the whole file in one transaction with its schema_migrations row, so it
  is applied entirely or not at all;
- **non-transactional**, marked by a line `-- atlas4d:no-transaction` before its first statement: for what
  PostgreSQL refuses inside a transaction block and what must not lock writes — `CREATE INDEX CONCURRENTLY`,
  `ALTER TYPE … ADD VALUE`, `VACUUM`. Its statements (split by sqlparse, which knows quotes, dollar quotes and
  comments) run one by one in autocommit; the schema_migrations row is written only after the last one, so a
  file that failed half-way runs again from its first statement: such a file must be idempotent
  (`IF NOT EXISTS` / `IF EXISTS`). A failed `CREATE INDEX CONCURRENTLY` leaves an INVALID index behind, which
  `IF NOT EXISTS` would then accept as done; before running the file again the migrator drops every invalid
  index the file creates (`DROP INDEX CONCURRENTLY`).

On a partitioned table (atlas4d.observations_core after `atlas4d db partition`) PostgreSQL refuses
`CREATE INDEX CONCURRENTLY`; the migrator runs such a statement as what it means there: the parent's index
`ON ONLY` the parent, each partition's concurrently, attached one by one (`_partitioned_concurrent_index`).

Waiting for the lock polls `pg_try_advisory_lock` instead of blocking in `pg_advisory_lock`: a replica blocked
in that call holds a snapshot, and `CREATE INDEX CONCURRENTLY` on the replica holding the lock waits for every
snapshot older than its own — each waits for the other, and PostgreSQL cancels the build as a deadlock
(tests/db/test_migrations_online.py fails that way with a blocking lock).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import asyncpg
import sqlparse
from asyncpg.pool import PoolConnectionProxy

from atlas4d.errors import MigrationError

Conn = asyncpg.Connection | PoolConnectionProxy
ADVISORY_LOCK_KEY = 0x41544C34  # "ATL4"
LOCK_POLL_S = 0.2
NO_TRANSACTION = re.compile(r"^\s*--\s*atlas4d:no-transaction\s*$", re.MULTILINE)
CONCURRENT_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>[A-Za-z_][\w$]*)\s+ON\s+(?:ONLY\s+)?(?:(?P<schema>[A-Za-z_][\w$]*)\.)?[A-Za-z_]",
    re.IGNORECASE,
)

FULL_CONCURRENT_INDEX = re.compile(
    r"^\s*CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>[A-Za-z_][\w$]*)\s+ON\s+(?:ONLY\s+)?(?P<table>(?:[A-Za-z_][\w$]*\.)?[A-Za-z_][\w$]*)\s+"
    r"(?P<rest>.*?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)

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

    @property
    def transactional(self) -> bool:
        """False when a `-- atlas4d:no-transaction` line comes before the file's first statement."""
        for line in self.sql.splitlines():
            if NO_TRANSACTION.match(line):
                return False
            if line.strip() and not line.lstrip().startswith("--"):
                return True  # the first statement: a marker after it does not count
        return True

    @property
    def kind(self) -> str:
        return "transactional" if self.transactional else "no-transaction"

    def statements(self) -> list[str]:
        """The file's statements, comments stripped, for running one at a time outside a transaction."""
        stripped = (sqlparse.format(s, strip_comments=True).strip() for s in sqlparse.split(self.sql))
        return [s for s in stripped if s and s != ";"]

    def concurrent_indexes(self) -> list[tuple[str, str]]:
        """(schema, name) of each index the file builds with CREATE INDEX CONCURRENTLY ('' = search path)."""
        return [
            (m["schema"] or "", m["name"]) for m in CONCURRENT_INDEX.finditer(" ".join(self.statements()))
        ]


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


def _check_unedited(applied: dict[tuple[str, str], str], migrations: list[Migration]) -> None:
    for m in migrations:
        recorded = applied.get((m.module, m.version))
        if recorded is not None and recorded != m.checksum:
            raise MigrationError(
                f"migration {m.module}/{m.version} was edited after it was applied "
                f"(recorded checksum {recorded[:12]}…, file {m.checksum[:12]}…); "
                "add a new migration instead of changing an applied one"
            )


async def pending(conn: Conn, migrations: list[Migration]) -> list[Migration]:
    """What `migrate` would apply now, in order (refusing edited files as it would); changes nothing."""
    await conn.execute(BOOTSTRAP_SQL)
    applied = await _applied(conn)
    _check_unedited(applied, migrations)
    return [m for m in migrations if (m.module, m.version) not in applied]


async def _lock(conn: Conn) -> None:
    # polled, not awaited in pg_advisory_lock (module docstring): the lock lives in PostgreSQL, no Event can say
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY):  # noqa: ASYNC110
        await asyncio.sleep(LOCK_POLL_S)


async def _record(conn: Conn, m: Migration) -> None:
    await conn.execute(
        "INSERT INTO atlas4d.schema_migrations (module, version, checksum) VALUES ($1, $2, $3)",
        m.module,
        m.version,
        m.checksum,
    )


async def _apply_in_transaction(conn: Conn, m: Migration) -> None:
    async with conn.transaction():
        # the request timeout is not a migration's: building an index on 10M rows takes minutes
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute(m.sql)
        await _record(conn, m)


async def _drop_invalid_indexes(conn: Conn, m: Migration) -> None:
    for schema, name in m.concurrent_indexes():
        invalid = await conn.fetchval(
            """SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
               WHERE c.relname = $1 AND NOT i.indisvalid AND c.relkind = 'i'
                 AND (n.nspname = $2 OR ($2 = '' AND n.nspname = ANY(current_schemas(false))))""",
            name,
            schema,
        )
        if invalid is not None:
            await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {invalid}")


async def _partitioned_concurrent_index(conn: Conn, statement: str) -> list[str] | None:
    """`CREATE INDEX CONCURRENTLY` on a partitioned table (PostgreSQL refuses it) as what it means there.

    Such a table is, for one, atlas4d.observations_core after `atlas4d db partition`. The parent index is
    made `ON ONLY` the parent (instant; invalid until complete), each partition's concurrently, then attached;
    PostgreSQL marks the parent valid when the last partition's is attached. Every step is idempotent, so a
    file that failed half-way runs again; a partition index left invalid by a failed build is dropped first.
    None when the statement is anything else."""
    m = FULL_CONCURRENT_INDEX.match(statement)
    if m is None:
        return None
    table = await conn.fetchrow(
        "SELECT c.oid, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass($1) AND c.relkind = 'p'",
        m["table"],
    )
    if table is None:
        return None
    unique, name, rest = m["unique"] or "", m["name"], m["rest"]
    schema = '"' + table["nspname"].replace('"', '""') + '"'
    steps = [f"CREATE {unique}INDEX IF NOT EXISTS {name} ON ONLY {m['table']} {rest}"]
    for part in await conn.fetch(
        "SELECT c.oid::regclass::text AS part, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = $1 AND c.relkind = 'r' ORDER BY c.relname",
        table["oid"],
    ):
        child = f"{part['relname']}_{name}"
        if len(child.encode()) > 63:
            child = f"{child[:54]}_{hashlib.sha256(child.encode()).hexdigest()[:8]}"
        invalid = await conn.fetchval(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = $1 AND c.relnamespace = $2::regnamespace",
            child, table["nspname"],
        )  # fmt: skip
        if invalid:
            steps.append(f'DROP INDEX CONCURRENTLY IF EXISTS {schema}."{child}"')
        steps.append(f'CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS "{child}" ON {part["part"]} {rest}')
        steps.append(f'ALTER INDEX {schema}.{name} ATTACH PARTITION {schema}."{child}"')
    return steps


async def _apply_without_transaction(conn: Conn, m: Migration) -> None:
    previous = await conn.fetchval("SHOW statement_timeout")
    await conn.execute("SET statement_timeout = 0")
    try:
        await _drop_invalid_indexes(conn, m)
        for statement in m.statements():
            for step in await _partitioned_concurrent_index(conn, statement) or [statement]:
                await conn.execute(step)
        await _record(conn, m)
    finally:
        await conn.execute("SELECT set_config('statement_timeout', $1, false)", previous)


async def migrate(conn: Conn, migrations: list[Migration]) -> list[Migration]:
    """Apply what is missing, in order; returns the migrations applied now."""
    await _lock(conn)
    try:
        done: list[Migration] = []
        for m in await pending(conn, migrations):
            try:
                if m.transactional:
                    await _apply_in_transaction(conn, m)
                else:
                    await _apply_without_transaction(conn, m)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {m.module}/{m.version} failed: {exc}") from exc
            done.append(m)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
