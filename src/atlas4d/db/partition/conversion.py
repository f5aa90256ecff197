"""`atlas4d db partition`: the online conversion (expand, copy, verify, swap; atlas4d.db.partition)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import asyncpg

from atlas4d.db.partition.catalog import (
    DEFAULT_PART,
    MIRROR_FUNCTION,
    MIRROR_TRIGGER,
    OLD,
    SCHEMA,
    STATE_SQL,
    TABLE,
    TWIN,
    Catalog,
    Interval,
    PartitionError,
    aside_name,
    kind,
    no_statement_timeout,
    partition_name,
    planned_ranges,
    qualified,
    quote,
    range_sql,
    read_catalog,
    sql_literal,
    with_lock_retries,
)

SMALL_PARTITION_BYTES = 1 << 20  # indexed without CONCURRENTLY below this heap size (~7,000 observations)


# ---------------------------------------------------------------- the conversion


@dataclass
class ConversionReport:
    interval: str
    outcome: Literal[
        "converted", "dry-run", "already partitioned", "hypertable", "refused"
    ]  # hypertable: TimescaleDB
    steps: list[str] = field(default_factory=list)
    rows_copied: int = 0
    rows_verified: int = 0
    partitions_created: int = 0
    copy_seconds: float = 0.0
    lock_ms: float = 0.0
    swap_attempts: int = 0
    refused: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds from the start when it began


Progress = Callable[[int, int], None]  # (rows copied so far, rows to copy)


async def convert(
    conn: asyncpg.Connection,
    *,
    interval: Interval = "month",
    ahead: int = 3,
    batch_rows: int = 50_000,
    drop_old: bool = False,
    dry_run: bool = False,
    lock_timeout_ms: int = 2_000,
    swap_attempts: int = 30,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ConversionReport:
    """Convert atlas4d.observations_core to RANGE(t) partitions online; resumable (see the module doc)."""
    async with no_statement_timeout(conn):
        return await _convert(
            conn, interval=interval, ahead=ahead, batch_rows=batch_rows, drop_old=drop_old, dry_run=dry_run,
            lock_timeout_ms=lock_timeout_ms, swap_attempts=swap_attempts, progress=progress, now=now,
        )  # fmt: skip


async def _convert(
    conn: asyncpg.Connection,
    *,
    interval: Interval,
    ahead: int,
    batch_rows: int,
    drop_old: bool,
    dry_run: bool,
    lock_timeout_ms: int,
    swap_attempts: int,
    progress: Progress | None,
    now: datetime | None,
) -> ConversionReport:
    began = time.perf_counter()
    now = now or datetime.now(UTC)
    report = ConversionReport(interval, "converted")
    current = await kind(conn)
    if current == "missing":
        raise PartitionError(f"{SCHEMA}.{TABLE} does not exist (run `atlas4d db migrate` first)")
    if current in ("partitioned", "hypertable"):
        report.outcome = "already partitioned" if current == "partitioned" else "hypertable"
        return report
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"):
        return await _hypertable(conn, interval, dry_run, report)
    await conn.execute(STATE_SQL)
    state = await conn.fetchrow("SELECT * FROM atlas4d.partitioning WHERE table_name = $1", TABLE)
    if state is not None and state["phase"] == "done":  # a finished conversion, rolled back by hand since
        await conn.execute("DELETE FROM atlas4d.partitioning WHERE table_name = $1", TABLE)
        state = None
    if state is not None and state["interval"] != interval:
        interval = state["interval"]  # a resumed conversion keeps the interval it started with
        report.interval = interval
    catalog = await read_catalog(conn)
    report.refused, report.not_carried = catalog.refused, catalog.not_carried
    if catalog.refused:
        report.outcome = "refused"
        return report
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{SCHEMA}.{OLD}"):
        raise PartitionError(
            f"{SCHEMA}.{OLD} exists (a previous conversion's table): drop or rename it first"
        )

    twin_exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{SCHEMA}.{TWIN}")
    bounds = await conn.fetchrow(
        f"SELECT min(t) AS lo, max(t) AS hi, min(id) AS low_id FROM {SCHEMA}.{TABLE}"
    )
    assert bounds is not None
    ranges = planned_ranges(bounds["lo"], bounds["hi"], now, interval, ahead)
    report.steps.append(
        f"{'reuse' if twin_exists else 'create'} {SCHEMA}.{TWIN} PARTITION BY RANGE (t): {len(ranges)} "
        f"{interval} partitions {ranges[0][0]:%Y-%m-%d} .. {ranges[-1][1]:%Y-%m-%d} + {DEFAULT_PART}; "
        f"{len(catalog.constraints)} key constraints, {len(catalog.grants)} grants"
    )
    report.steps.append(
        f"mirror trigger {MIRROR_TRIGGER} on {SCHEMA}.{TABLE} (INSERT/UPDATE/DELETE/TRUNCATE)"
    )
    report.steps.append(f"copy rows in id batches of {batch_rows:,} (FOR SHARE, resumable)")
    report.steps.append(
        f"build {len(catalog.indexes)} indexes on each partition concurrently, attach them to the twin's"
    )
    report.steps.append("verify count and checksum in one snapshot")
    report.steps.append(
        f"swap under ACCESS EXCLUSIVE (lock_timeout {lock_timeout_ms} ms, up to {swap_attempts} tries): "
        f"{len(catalog.triggers)} triggers, {len(catalog.policies)} policies"
        f"{' (RLS on)' if catalog.rls else ''}, {len(catalog.views)} views, "
        f"{len(catalog.sequences)} owned sequences; old table "
        + ("dropped" if drop_old else f"kept as {SCHEMA}.{OLD}")
    )
    if dry_run:
        report.outcome = "dry-run"
        report.seconds = time.perf_counter() - began
        return report

    report.phases["expand"] = time.perf_counter() - began
    if not twin_exists:
        await _create_twin(conn, catalog, ranges)
        report.partitions_created = len(ranges) + 1
    if state is None:
        await conn.execute(
            "INSERT INTO atlas4d.partitioning (table_name, interval, phase) VALUES ($1, $2, 'copy') "
            "ON CONFLICT (table_name) DO UPDATE SET interval = excluded.interval, phase = 'copy'",
            TABLE, interval,
        )  # fmt: skip
    report.phases["mirror"] = time.perf_counter() - began
    await _install_mirror(conn, catalog, lock_timeout_ms, swap_attempts)
    state = await conn.fetchrow("SELECT * FROM atlas4d.partitioning WHERE table_name = $1", TABLE)
    assert state is not None
    if state["high_id"] is None:
        # every row written before the mirror existed has committed (CREATE TRIGGER waited for them);
        # later rows reach the twin through the mirror, whatever their id
        high = await conn.fetchval(f"SELECT max(id) FROM ONLY {SCHEMA}.{TABLE}")
        low = (bounds["low_id"] or 1) - 1
        await conn.execute(
            "UPDATE atlas4d.partitioning SET low_id = $2, high_id = $3, copied_to = $2 WHERE table_name = $1",
            TABLE, low, high if high is not None else low,
        )  # fmt: skip
        state = await conn.fetchrow("SELECT * FROM atlas4d.partitioning WHERE table_name = $1", TABLE)
        assert state is not None

    copy_began = time.perf_counter()
    report.phases["copy"] = copy_began - began
    report.rows_copied = await _copy(conn, catalog, state, batch_rows, progress)
    report.copy_seconds = time.perf_counter() - copy_began
    await conn.execute("UPDATE atlas4d.partitioning SET phase = 'index' WHERE table_name = $1", TABLE)
    report.phases["index"] = time.perf_counter() - began
    await _build_indexes(conn, catalog)
    await conn.execute("UPDATE atlas4d.partitioning SET phase = 'verify' WHERE table_name = $1", TABLE)
    report.phases["verify"] = time.perf_counter() - began
    report.rows_verified = await _verify(conn)
    again = await read_catalog(conn)  # the schema must not have changed under the copy
    if again.refused or {n for n, _ in again.indexes + again.constraints} != {
        n for n, _ in catalog.indexes + catalog.constraints
    }:
        raise PartitionError(
            "indexes or constraints of the table changed during the copy: run `atlas4d db partition "
            "--restart` to start again" + (f" ({'; '.join(again.refused)})" if again.refused else "")
        )
    catalog = again
    report.phases["swap"] = time.perf_counter() - began
    await _swap(conn, catalog, lock_timeout_ms, swap_attempts, report)
    if drop_old:
        await conn.execute(f"DROP TABLE {SCHEMA}.{OLD}")
    report.seconds = time.perf_counter() - began
    return report


async def _hypertable(
    conn: asyncpg.Connection, interval: Interval, dry_run: bool, report: ConversionReport
) -> ConversionReport:
    """TimescaleDB installed after migration 0001: make the table a hypertable with its own chunking.

    Untested (TimescaleDB is not installable on the development machines). Not online: create_hypertable
    with migrate_data moves the rows into chunks inside one transaction that locks the table. TimescaleDB
    refuses transition tables on hypertables, so the subscriptions' NOTIFY trigger becomes the per-row one
    migration 0009 uses for hypertables."""
    chunk = {"day": "1 day", "week": "7 days", "month": "1 month", "year": "1 year"}[interval]
    report.steps.append(
        f"TimescaleDB: create_hypertable(atlas4d.observations_core, t, chunk_time_interval => {chunk}, "
        "migrate_data => true) — locks the table while it moves the rows; observations_notify becomes per row"
    )
    if dry_run:
        report.outcome = "dry-run"
        return report
    async with conn.transaction():
        await conn.execute(f"DROP TRIGGER IF EXISTS observations_notify ON {SCHEMA}.{TABLE}")
        await conn.execute(
            "SELECT create_hypertable($1::regclass, 't', chunk_time_interval => $2::interval, "
            "migrate_data => true, if_not_exists => true)",
            f"{SCHEMA}.{TABLE}", chunk,
        )  # fmt: skip
        await conn.execute(
            f"CREATE TRIGGER observations_notify AFTER INSERT ON {SCHEMA}.{TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION atlas4d.notify_observation_row()"
        )
    report.outcome = "hypertable"
    return report


async def _create_twin(
    conn: asyncpg.Connection, catalog: Catalog, ranges: list[tuple[datetime, datetime]]
) -> None:
    twin = qualified(TWIN)
    async with conn.transaction():
        await conn.execute(
            f"CREATE TABLE {twin} (LIKE {SCHEMA}.{TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING GENERATED INCLUDING STATISTICS INCLUDING COMMENTS INCLUDING STORAGE INCLUDING COMPRESSION) "
            "PARTITION BY RANGE (t)"
        )
        for start, end in ranges:
            await conn.execute(
                f"CREATE TABLE {qualified(partition_name(start))} PARTITION OF {twin} {range_sql(start, end)}"
            )
        await conn.execute(f"CREATE TABLE {qualified(DEFAULT_PART)} PARTITION OF {twin} DEFAULT")
        for name, definition in catalog.constraints:
            await conn.execute(
                f"ALTER TABLE {twin} ADD CONSTRAINT {quote(aside_name(name, 'p'))} {definition}"
            )
        await conn.execute(f"ALTER TABLE {twin} OWNER TO {quote(catalog.owner)}")
        for grant in catalog.grants:
            await conn.execute(grant.format(table=twin))
        if catalog.comment is not None:
            await conn.execute(f"COMMENT ON TABLE {twin} IS {sql_literal(catalog.comment)}")


async def _build_indexes(conn: asyncpg.Connection, catalog: Catalog) -> None:
    """The twin's secondary indexes, built after the copy: each partition's with CREATE INDEX CONCURRENTLY
    (a sorted bulk build instead of one insertion per row during the copy; writes through the mirror go on),
    attached to a parent index made `ON ONLY` the twin, which turns valid with its last partition. Every step
    is idempotent for a resumed run; a partition index left invalid by an interrupted build is rebuilt."""
    twin = qualified(TWIN)
    leaves = [
        (r["relname"], r["bytes"] < SMALL_PARTITION_BYTES)
        for r in await conn.fetch(
            "SELECT c.relname, pg_relation_size(c.oid) AS bytes FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = $1::regclass AND c.relkind = 'r' ORDER BY c.relname",
            f"{SCHEMA}.{TWIN}",
        )
    ]
    for name, definition in catalog.indexes:
        parent = aside_name(name, "p")
        m = INDEX_HEAD.match(definition)
        if m is None:
            raise PartitionError(f"cannot read the definition of index {name}: {definition}")
        unique, rest = m["unique"] or "", definition[m.end() :]
        await conn.execute(f"CREATE {unique}INDEX IF NOT EXISTS {quote(parent)} ON ONLY {twin} {rest}")
        for leaf, small in leaves:
            child = aside_name(leaf, name)
            valid = await conn.fetchval(
                "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
                f"{SCHEMA}.{quote(child)}",
            )
            if valid is False:
                await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(child)}")
            # a small partition (the ones ahead, the DEFAULT, a short table) in one plain build: it holds
            # writes to that partition for milliseconds, where a concurrent build waits out two transactions
            how = "" if small else "CONCURRENTLY "
            await conn.execute(
                f"CREATE {unique}INDEX {how}IF NOT EXISTS {quote(child)} ON {qualified(leaf)} {rest}"
            )
            await conn.execute(f"ALTER INDEX {qualified(parent)} ATTACH PARTITION {qualified(child)}")


INDEX_HEAD = re.compile(r"^CREATE (?P<unique>UNIQUE )?INDEX (?P<name>\S+) ON (?:ONLY )?(?P<table>\S+) ")


def _retarget_index(definition: str, name: str, new_name: str, table: str) -> str:
    m = INDEX_HEAD.match(definition)
    if m is None:
        raise PartitionError(f"cannot read the definition of index {name}: {definition}")
    return f"CREATE {m['unique'] or ''}INDEX {quote(new_name)} ON {qualified(table)} " + definition[m.end() :]


async def _install_mirror(
    conn: asyncpg.Connection, catalog: Catalog, lock_timeout_ms: int, attempts: int
) -> None:
    cols = ", ".join(quote(c) for c in catalog.columns)
    new_values = ", ".join(f"NEW.{quote(c)}" for c in catalog.columns)
    key = ", ".join(quote(c) for c in catalog.key)
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in catalog.columns if c not in catalog.key)
    old_match = " AND ".join(f"{quote(c)} = OLD.{quote(c)}" for c in catalog.key)
    twin = qualified(TWIN)
    upsert = f"INSERT INTO {twin} ({cols}) VALUES ({new_values}) ON CONFLICT ({key}) DO " + (
        f"UPDATE SET {updates}" if updates else "NOTHING"
    )
    await conn.execute(
        f"""
        CREATE OR REPLACE FUNCTION {MIRROR_FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $mirror$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                TRUNCATE {twin};
                RETURN NULL;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                DELETE FROM {twin} WHERE {old_match};
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                {upsert};
            END IF;
            RETURN NULL;
        END
        $mirror$
        """
    )
    await conn.execute(f"ALTER FUNCTION {MIRROR_FUNCTION}() OWNER TO {quote(catalog.owner)}")
    exists = await conn.fetchval(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = $1 AND tgname = ANY($2::text[])",
        catalog.oid, [MIRROR_TRIGGER, MIRROR_TRIGGER + "_truncate"],
    )  # fmt: skip
    if exists == 2:
        return

    async def install() -> None:
        await conn.execute(f"DROP TRIGGER IF EXISTS {MIRROR_TRIGGER} ON {SCHEMA}.{TABLE}")
        await conn.execute(f"DROP TRIGGER IF EXISTS {MIRROR_TRIGGER}_truncate ON {SCHEMA}.{TABLE}")
        await conn.execute(
            f"CREATE TRIGGER {MIRROR_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {SCHEMA}.{TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION {MIRROR_FUNCTION}()"
        )
        await conn.execute(
            f"CREATE TRIGGER {MIRROR_TRIGGER}_truncate AFTER TRUNCATE ON {SCHEMA}.{TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {MIRROR_FUNCTION}()"
        )

    await with_lock_retries(conn, install, lock_timeout_ms, attempts, "install the mirror trigger")


async def _copy(
    conn: asyncpg.Connection,
    catalog: Catalog,
    state: asyncpg.Record,
    batch_rows: int,
    progress: Progress | None,
) -> int:
    cols = ", ".join(quote(c) for c in catalog.columns)
    low, high, done = state["low_id"], state["high_id"], state["copied_to"]
    total = await conn.fetchval(
        f"SELECT count(*) FROM ONLY {SCHEMA}.{TABLE} WHERE id > $1 AND id <= $2", low, high
    ) if progress else 0  # fmt: skip
    copied = 0
    statement = (
        f"INSERT INTO {qualified(TWIN)} ({cols}) SELECT {cols} FROM ONLY {SCHEMA}.{TABLE} "
        "WHERE id > $1 AND id <= $2 FOR SHARE ON CONFLICT DO NOTHING"
    )
    while done < high:
        # a batch of ids holds about batch_rows rows (fewer where ids have gaps); a run of missing ids is
        # skipped in one step (a row given an id in it later reaches the twin through the mirror)
        first = await conn.fetchval(f"SELECT min(id) FROM ONLY {SCHEMA}.{TABLE} WHERE id > $1", done)
        if first is None or first > high:
            break
        upto = min(first - 1 + batch_rows, high)
        async with conn.transaction():
            status = await conn.execute(statement, done, upto)
            await conn.execute(
                "UPDATE atlas4d.partitioning SET copied_to = $2 WHERE table_name = $1", TABLE, upto
            )
        copied += int(status.rsplit(" ", 1)[-1])
        done = upto
        if progress:
            progress(min(copied, total), total)
    return copied


async def _verify(conn: asyncpg.Connection) -> int:
    """Count and checksum of both tables in one snapshot; the mirror keeps them equal in every snapshot."""
    check = "SELECT count(*) AS n, coalesce(sum(hashtextextended(x::text, 0)), 0) AS h FROM {} x"
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        old = await conn.fetchrow(check.format(f"ONLY {SCHEMA}.{TABLE}"))
        new = await conn.fetchrow(check.format(qualified(TWIN)))
    assert old is not None and new is not None
    if (old["n"], old["h"]) != (new["n"], new["h"]):
        raise PartitionError(
            f"verification failed: {SCHEMA}.{TABLE} has {old['n']:,} rows (checksum {old['h']}), "
            f"{TWIN} {new['n']:,} (checksum {new['h']}); nothing was swapped. Was the mirror trigger disabled "
            "(session_replication_role = replica)? `atlas4d db partition --restart` copies again"
        )
    return int(old["n"])


async def _swap(
    conn: asyncpg.Connection, catalog: Catalog, lock_timeout_ms: int, attempts: int, report: ConversionReport
) -> None:
    held = {"ms": 0.0}

    async def swap() -> None:
        await conn.execute(f"LOCK TABLE {SCHEMA}.{TABLE}, {qualified(TWIN)} IN ACCESS EXCLUSIVE MODE")
        locked = time.perf_counter()
        await conn.execute(f"DROP TRIGGER {MIRROR_TRIGGER} ON {SCHEMA}.{TABLE}")
        await conn.execute(f"DROP TRIGGER {MIRROR_TRIGGER}_truncate ON {SCHEMA}.{TABLE}")
        await conn.execute(f"ALTER TABLE {SCHEMA}.{TABLE} RENAME TO {OLD}")
        old, twin = qualified(OLD), qualified(TWIN)
        for name, _ in catalog.constraints:
            await conn.execute(
                f"ALTER TABLE {old} RENAME CONSTRAINT {quote(name)} TO {quote(aside_name(name, 'old'))}"
            )
            await conn.execute(
                f"ALTER TABLE {twin} RENAME CONSTRAINT {quote(aside_name(name, 'p'))} TO {quote(name)}"
            )
        for name, _ in catalog.indexes:
            await conn.execute(f"ALTER INDEX {qualified(name)} RENAME TO {quote(aside_name(name, 'old'))}")
            await conn.execute(f"ALTER INDEX {qualified(aside_name(name, 'p'))} RENAME TO {quote(name)}")
        await conn.execute(f"ALTER TABLE {twin} RENAME TO {TABLE}")
        new = f"{SCHEMA}.{TABLE}"
        for sequence, column in catalog.sequences:
            await conn.execute(f"ALTER SEQUENCE {sequence} OWNED BY {new}.{quote(column)}")
        if catalog.triggers:
            await conn.execute(f"ALTER TABLE {old} DISABLE TRIGGER USER")
        for _, definition in catalog.triggers:  # read with the original name: now the partitioned table
            await conn.execute(definition)
        if catalog.rls:
            await conn.execute(f"ALTER TABLE {new} ENABLE ROW LEVEL SECURITY")
        if catalog.force_rls:
            await conn.execute(f"ALTER TABLE {new} FORCE ROW LEVEL SECURITY")
        for policy in catalog.policies:
            await conn.execute(policy.format(table=new))
        for view, definition in catalog.views:
            await conn.execute(f"CREATE OR REPLACE VIEW {view} AS {definition}")
        for r in await conn.fetch(
            "SELECT a.attrelid::regclass::text AS tbl, quote_ident(a.attname) AS col FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.atttypid = 'regclass'::regtype AND c.relkind = 'r' AND n.nspname LIKE 'atlas4d%' "
            "AND a.attnum > 0 AND NOT a.attisdropped"
        ):
            await conn.execute(
                f"UPDATE {r['tbl']} SET {r['col']} = $1::regclass WHERE {r['col']} = $2::oid::regclass",
                new, catalog.oid,
            )  # fmt: skip
        await conn.execute(
            "UPDATE atlas4d.partitioning SET phase = 'done', swapped_at = now() WHERE table_name = $1", TABLE
        )
        held["ms"] = (time.perf_counter() - locked) * 1000  # the commit follows at once

    report.swap_attempts = await with_lock_retries(conn, swap, lock_timeout_ms, attempts, "swap the tables")
    report.lock_ms = held["ms"]
    await conn.execute(f"DROP FUNCTION IF EXISTS {MIRROR_FUNCTION}()")


async def abandon(conn: asyncpg.Connection) -> bool:
    """Undo an unfinished conversion: drop the mirror, the twin and the progress row. True if there was one."""
    if await kind(conn) != "table":
        return False
    await conn.execute(STATE_SQL)
    had = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{SCHEMA}.{TWIN}")
    async with conn.transaction():
        await conn.execute(f"DROP TRIGGER IF EXISTS {MIRROR_TRIGGER} ON {SCHEMA}.{TABLE}")
        await conn.execute(f"DROP TRIGGER IF EXISTS {MIRROR_TRIGGER}_truncate ON {SCHEMA}.{TABLE}")
        await conn.execute(f"DROP TABLE IF EXISTS {qualified(TWIN)}")
        await conn.execute(f"DROP FUNCTION IF EXISTS {MIRROR_FUNCTION}()")
        await conn.execute("DELETE FROM atlas4d.partitioning WHERE table_name = $1", TABLE)
    return bool(had)
