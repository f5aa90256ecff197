"""`atlas4d db maintain`: partitions ahead, retention, and what goes with a dropped range
(atlas4d.db.partition)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import asyncpg

from atlas4d.db.partition.catalog import (
    INTERVALS,
    MAINTAIN_LOCK_KEY,
    SCHEMA,
    STATE_SQL,
    TABLE,
    Duration,
    Interval,
    aside_name,
    kind,
    no_statement_timeout,
    partition_name,
    partitions,
    planned_ranges,
    qualified,
    quote,
    range_sql,
    with_lock_retries,
)
from atlas4d.errors import Atlas4DError

MOVE_MAX_ROWS = 100_000  # rows of a new range moved out of DEFAULT under its lock; more: range skipped


# ---------------------------------------------------------------- maintenance and retention


@dataclass
class MaintainReport:
    outcome: Literal["done", "not partitioned", "busy", "hypertable"]
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # ranges left to the DEFAULT partition, and why
    moved: dict[str, int] = field(default_factory=dict)  # new partition -> rows moved out of DEFAULT
    cutoff: datetime | None = None
    default_rows_deleted: int = 0
    tracks_deleted: int = 0
    tracks_refreshed: int = 0
    ingest_keys_deleted: int = 0


async def configured_interval(conn: asyncpg.Connection) -> Interval:
    await conn.execute(STATE_SQL)
    value = await conn.fetchval("SELECT interval FROM atlas4d.partitioning WHERE table_name = $1", TABLE)
    return value if value in INTERVALS else "month"


async def maintain(
    conn: asyncpg.Connection,
    *,
    retention: Duration | None,
    ahead: int = 3,
    now: datetime | None = None,
    lock_timeout_ms: int = 2_000,
    attempts: int = 30,
    dry_run: bool = False,
) -> MaintainReport:
    """Create the partitions of the next `ahead` periods; drop those entirely older than `retention`.

    Serialised by a session advisory lock: a second run (another replica's CronJob) returns `busy` at once."""
    now = now or datetime.now(UTC)
    current = await kind(conn)
    if current == "hypertable":
        report = MaintainReport("hypertable")
        if retention is not None and not dry_run:  # untested: no TimescaleDB here
            await conn.execute(
                "SELECT add_retention_policy($1::regclass, drop_after => $2::interval, if_not_exists => true)",
                f"{SCHEMA}.{TABLE}", _pg_interval(retention),
            )  # fmt: skip
        return report
    if current != "partitioned":
        return MaintainReport("not partitioned")
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MAINTAIN_LOCK_KEY):
        return MaintainReport("busy")
    try:
        await conn.execute("SET TIME ZONE 'UTC'")
        async with no_statement_timeout(conn):
            return await _maintain(conn, retention, ahead, now, lock_timeout_ms, attempts, dry_run)
    finally:
        await conn.execute("RESET TIME ZONE")
        await conn.execute("SELECT pg_advisory_unlock($1)", MAINTAIN_LOCK_KEY)


def _pg_interval(d: Duration) -> str:
    return f"{d.months} months {int(d.span.total_seconds())} seconds"


async def _maintain(
    conn: asyncpg.Connection,
    retention: Duration | None,
    ahead: int,
    now: datetime,
    lock_timeout_ms: int,
    attempts: int,
    dry_run: bool,
) -> MaintainReport:
    report = MaintainReport("done")
    interval = await configured_interval(conn)
    parts = await partitions(conn)
    ranged = [p for p in parts if p.start is not None]
    default = next((p.name for p in parts if p.start is None), None)
    have = {p.start for p in ranged}
    # the current period and `ahead` more; ranges already covered are skipped. A past range never made
    # (maintenance down for longer than `ahead` periods) is not back-filled: its rows are in DEFAULT already
    for start, end in planned_ranges(now, None, now, interval, ahead):
        if start in have or any(p.start is not None and p.end is not None and p.start < end and start < p.end
                                for p in ranged):  # fmt: skip
            continue
        name = partition_name(start)
        stray = 0
        if default is not None:
            stray = await conn.fetchval(
                f"SELECT count(*) FROM (SELECT 1 FROM {qualified(default)} WHERE t >= $1 AND t < $2 "
                "LIMIT $3) s",
                start, end, MOVE_MAX_ROWS + 1,
            )  # fmt: skip
        if stray > MOVE_MAX_ROWS:
            report.skipped.append(
                f"{name}: the DEFAULT partition holds more than {MOVE_MAX_ROWS:,} rows of that range; moving "
                "them would lock it for long (left there: served, not pruned)"
            )
            continue
        report.created.append(name)
        if stray:
            report.moved[name] = stray
        if not dry_run:
            await _add_partition(
                conn, name, start, end, lock_timeout_ms, attempts, move_from=default if stray else None
            )

    if retention is None:
        return report
    cutoff = retention.before(now)
    report.cutoff = cutoff
    expired = [p for p in ranged if p.end is not None and p.end <= cutoff]
    report.dropped = [p.name for p in expired]
    if dry_run:
        return report
    for p in expired:
        await _drop_partition(conn, p.name, default is not None, lock_timeout_ms, attempts)
    if default is not None:
        status = await conn.execute(f"DELETE FROM {qualified(default)} WHERE t < $1", cutoff)
        report.default_rows_deleted = int(status.rsplit(" ", 1)[-1])
    gone = max((p.end for p in expired if p.end is not None), default=None)
    if report.default_rows_deleted:
        gone = max(gone, cutoff) if gone else cutoff
    if gone is not None:
        await _dependent_data(conn, gone, report)
    return report


async def _add_partition(
    conn: asyncpg.Connection,
    name: str,
    start: datetime,
    end: datetime,
    lock_timeout_ms: int,
    attempts: int,
    move_from: str | None = None,
) -> None:
    """CREATE TABLE … LIKE then ATTACH: ATTACH takes SHARE UPDATE EXCLUSIVE on the parent (reads and
    writes go on), where CREATE TABLE … PARTITION OF would take ACCESS EXCLUSIVE. The CHECK constraint
    matching the bounds spares ATTACH its validation scan; it is dropped once attached.

    `move_from` (the DEFAULT partition holding rows of the range, written before the range had its
    partition): those rows move into the new table in the same transaction, under ACCESS EXCLUSIVE on the
    DEFAULT partition (ATTACH would take it anyway), so the move is atomic for every reader and writer."""
    table = qualified(name)
    check = quote(aside_name(name, "bounds"))
    cols = ", ".join(
        quote(r["attname"])
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            f"{SCHEMA}.{TABLE}",
        )
    )

    async def add() -> None:
        if move_from is not None:
            await conn.execute(f"LOCK TABLE {qualified(move_from)} IN ACCESS EXCLUSIVE MODE")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (LIKE {SCHEMA}.{TABLE} INCLUDING DEFAULTS INCLUDING "
            "CONSTRAINTS INCLUDING GENERATED INCLUDING STATISTICS INCLUDING STORAGE INCLUDING COMPRESSION)"
        )
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {check}")
        await conn.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK (t IS NOT NULL AND t >= "
            f"'{start.isoformat()}' AND t < '{end.isoformat()}')"
        )
        if move_from is not None:
            await conn.execute(
                f"WITH moved AS (DELETE FROM {qualified(move_from)} WHERE t >= $1 AND t < $2 RETURNING {cols}) "
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM moved",
                start, end,
            )  # fmt: skip
        await conn.execute(f"ALTER TABLE {SCHEMA}.{TABLE} ATTACH PARTITION {table} {range_sql(start, end)}")
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {check}")

    await with_lock_retries(conn, add, lock_timeout_ms, attempts, f"attach partition {name}")


async def _drop_partition(
    conn: asyncpg.Connection, name: str, has_default: bool, lock_timeout_ms: int, attempts: int
) -> None:
    """DETACH CONCURRENTLY (no ACCESS EXCLUSIVE on the parent) needs a table without a DEFAULT partition;
    with one, a plain DETACH under lock_timeout, retried."""
    table = qualified(name)
    if not has_default:
        await conn.execute(f"SET lock_timeout = {int(lock_timeout_ms) * 10}")
        try:
            await conn.execute(f"ALTER TABLE {SCHEMA}.{TABLE} DETACH PARTITION {table} CONCURRENTLY")
        finally:
            await conn.execute("RESET lock_timeout")
        await conn.execute(f"DROP TABLE {table}")
        return

    async def detach() -> None:
        await conn.execute(f"ALTER TABLE {SCHEMA}.{TABLE} DETACH PARTITION {table}")
        await conn.execute(f"DROP TABLE {table}")

    await with_lock_retries(conn, detach, lock_timeout_ms, attempts, f"detach partition {name}")


async def _dependent_data(conn: asyncpg.Connection, gone: datetime, report: MaintainReport) -> None:
    """Observations before `gone` are gone. Tracks wholly before it are deleted; tracks crossing it are
    refreshed from the rows left (their summary then starts at the oldest kept row); connector idempotency
    keys before it are deleted. Anomalies are kept: they carry their own detected_at and metadata."""
    status = await conn.execute("DELETE FROM atlas4d.tracks WHERE end_time < $1", gone)
    report.tracks_deleted = int(status.rsplit(" ", 1)[-1])
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM atlas4d.tracks WHERE start_time < $1", gone)]
    for i in range(0, len(ids), 1_000):
        await conn.fetchval("SELECT atlas4d.refresh_tracks($1::uuid[])", ids[i : i + 1_000])
    report.tracks_refreshed = len(ids)
    if await conn.fetchval("SELECT to_regclass('atlas4d.ingest_keys') IS NOT NULL"):
        status = await conn.execute("DELETE FROM atlas4d.ingest_keys WHERE t < $1", gone)
        report.ingest_keys_deleted = int(status.rsplit(" ", 1)[-1])


async def run_periodically(
    connect: Callable[[], Awaitable[asyncpg.Connection]],
    *,
    every_s: float,
    retention: Duration | None,
    ahead: int,
) -> None:
    """`atlas4d serve` with ATLAS4D_MAINTAIN_INTERVAL_S: maintain now and then, until cancelled. Every replica
    may run it; the advisory lock lets one act and the others skip. Failures are logged, never raised."""
    import logging

    log = logging.getLogger("atlas4d.partition")
    await asyncio.sleep(min(every_s, 60.0))
    while True:
        try:
            conn = await connect()
            try:
                report = await maintain(conn, retention=retention, ahead=ahead)
            finally:
                await conn.close()
            if report.created or report.dropped or report.skipped:
                log.info(
                    "partition maintenance: created %s, dropped %s, skipped %s",
                    report.created, report.dropped, report.skipped,
                )  # fmt: skip
        except (OSError, asyncpg.PostgresError, Atlas4DError) as exc:
            log.warning("partition maintenance failed: %s", exc)
        await asyncio.sleep(every_s)
