"""Time partitioning of `atlas4d.observations_core` and retention (docs/scaling.md §3).

`atlas4d db partition` converts the Core Spec v0.3 table, in place and while it is written, into a table
partitioned by RANGE (t) — one partition per interval (month by default) over the data's span plus some
ahead, and a DEFAULT partition so no insert is ever refused. Expand/contract:

1. **expand** — a partitioned twin `observations_core_partitioned` is made from the catalog: `LIKE` for
   columns, defaults, checks, storage, statistics and comments; the primary key from `pg_get_constraintdef`;
   owner and grants from `relacl`. Every other valid index (`pg_get_indexdef`, so a module's or an
   operator's own index comes along) is built after the copy, per partition, concurrently. A row-level *mirror* trigger on the old table applies every INSERT,
   UPDATE, DELETE and TRUNCATE to the twin in the writer's own transaction, so from then on any snapshot
   sees the two tables equal for every row written since;
2. **copy** — the rows that existed before the mirror, in id ranges of `batch_rows`, each batch one short
   transaction `INSERT … SELECT … FOR SHARE … ON CONFLICT DO NOTHING` that also records its progress in
   `atlas4d.partitioning` (an interrupted run resumes at the last committed batch). `FOR SHARE` makes a
   concurrent UPDATE/DELETE of a row being copied wait for the batch (and then mirror onto the copied row)
   or be seen by it, so a batch can never resurrect a deleted row or write a stale version;
3. **verify** — row count and a checksum (sum of 64-bit hashes of each row's text) of both tables read in
   one REPEATABLE READ snapshot: with the mirror in the writers' transactions they must be equal in any
   snapshot, however busy the table, so this needs no lock;
4. **swap** — one transaction that takes ACCESS EXCLUSIVE on both tables (with `lock_timeout`, retried so
   it never queues long in front of readers): drop the mirror; rename the old table to
   `observations_core_unpartitioned` and its indexes/constraints aside; give the twin the original names;
   recreate the user triggers, RLS flags and policies (from `pg_trigger`/`pg_policy`), point the views
   that read the table (from `pg_depend`) and `regclass` columns in atlas4d schemas
   (`atlas4d.tenant_tables`) at the new table, and move ownership of the id sequence. Only catalog work:
   the lock is held for milliseconds (docs/scaling.md has the measured figure). The old table is kept,
   its triggers disabled, unless `--drop-old`.

What the conversion refuses, before changing anything: identity columns, a unique index or constraint
without `t` (PostgreSQL cannot enforce it across partitions), exclusion constraints, foreign keys from or to
the table, materialized views or SQL-standard function bodies bound to it, row triggers with transition
tables. Column-level grants, publications and table storage parameters are not carried over (reported).

**pg_partman or our own?** Our own. pg_partman (Debian postgresql-15-partman) would do the ahead/retention
part, but managed PostgreSQL services often do not offer it, it needs its background worker or a cron
calling `run_maintenance()`, and it does not convert a live table without a write outage
(`partition_data_proc` moves rows out of the default partition under lock). What we need — create the
next few ranges, drop those past retention — is a few catalog queries run by `atlas4d db maintain`
(a Kubernetes CronJob or `atlas4d serve`), serialised with an advisory lock.

**TimescaleDB**: when the extension exists migration 0001 already made the table a hypertable (chunks
by time); `partition` then only reports that. With the extension installed later, `partition` calls
`create_hypertable(…, migrate_data => true)` instead of the conversion above (not online: it locks the table
while moving rows). `maintain` adds TimescaleDB's own retention policy (`add_retention_policy`). Untested
here: TimescaleDB is not installable on the development machines.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from atlas4d.errors import Atlas4DError

SCHEMA = "atlas4d"
TABLE = "observations_core"
TWIN = "observations_core_partitioned"
OLD = "observations_core_unpartitioned"
DEFAULT_PART = "observations_core_default"
MIRROR_TRIGGER = "atlas4d_partition_mirror"
MIRROR_FUNCTION = "atlas4d.observations_core_partition_mirror"
MAINTAIN_LOCK_KEY = 0x41544C35  # "ATL5"; migrations hold 0x41544C34
MAX_PARTITIONS = 2_000
MOVE_MAX_ROWS = 100_000  # rows of a new range moved out of DEFAULT under its lock; more: range skipped
SMALL_PARTITION_BYTES = 1 << 20  # indexed without CONCURRENTLY below this heap size (~7,000 observations)
Interval = Literal["day", "week", "month", "year"]
INTERVALS: tuple[Interval, ...] = ("day", "week", "month", "year")

STATE_SQL = """
CREATE TABLE IF NOT EXISTS atlas4d.partitioning (
    table_name text PRIMARY KEY,
    interval text NOT NULL,
    phase text NOT NULL,
    low_id bigint,
    high_id bigint,
    copied_to bigint,
    started_at timestamptz NOT NULL DEFAULT now(),
    swapped_at timestamptz
)
"""


class PartitionError(Atlas4DError):
    code = "PARTITION_REFUSED"


# ---------------------------------------------------------------- intervals and ISO-8601 durations


def period_start(t: datetime, interval: Interval) -> datetime:
    """The start (UTC) of the period of `interval` holding `t`; weeks start on Monday."""
    t = t.astimezone(UTC)
    day = datetime(t.year, t.month, t.day, tzinfo=UTC)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_period(start: datetime, interval: Interval) -> datetime:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def partition_name(start: datetime) -> str:
    return f"{TABLE}_p{start:%Y%m%d}"


DURATION = re.compile(
    r"^P(?!$)(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    """An ISO-8601 duration (P90D, P6M, P1Y, P2W, PT12H): calendar months and years plus a fixed span."""

    months: int
    span: timedelta
    text: str

    @classmethod
    def parse(cls, text: str) -> Duration:
        m = DURATION.match(text.strip().upper())
        if m is None:
            raise ValueError(f"not an ISO-8601 duration: {text!r} (examples: P90D, P6M, P1Y, P2W, PT12H)")
        n = {k: int(v) if v else 0 for k, v in m.groupdict().items()}
        span = timedelta(weeks=n["w"], days=n["d"], hours=n["h"], minutes=n["mi"], seconds=n["s"])
        duration = cls(n["y"] * 12 + n["mo"], span, text.strip().upper())
        if duration.months == 0 and not span:
            raise ValueError(f"a retention of zero would drop everything: {text!r}")
        return duration

    def before(self, t: datetime) -> datetime:
        """`t` minus this duration (months first, the day clamped to the month's last day)."""
        months = t.year * 12 + t.month - 1 - self.months
        year, month = divmod(months, 12)
        month += 1
        last = (datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        return t.replace(year=year, month=month, day=min(t.day, last)) - self.span


# ---------------------------------------------------------------- the catalog


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(name: str) -> str:
    return f"{SCHEMA}.{_q(name)}"


def aside_name(name: str, tag: str) -> str:
    """`name_tag`, shortened with a hash when it would pass PostgreSQL's 63-byte identifier limit."""
    candidate = f"{name}_{tag}"
    if len(candidate.encode()) <= 63:
        return candidate
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: 63 - len(tag) - 10]}_{digest}_{tag}"


@dataclass
class Catalog:
    """What observations_core carries, read from the catalog (nothing hard-coded)."""

    oid: int
    columns: list[str]
    key: list[str]  # primary key columns (the mirror's conflict target)
    constraints: list[tuple[str, str]]  # (name, definition) of primary key / unique constraints
    indexes: list[tuple[str, str]]  # (name, CREATE INDEX …) of other valid indexes
    triggers: list[tuple[str, str]]  # (name, CREATE TRIGGER …), user triggers
    policies: list[str]  # CREATE POLICY … statements, table name left as {table}
    rls: bool
    force_rls: bool
    owner: str
    grants: list[str]  # GRANT … statements, table name left as {table}
    views: list[tuple[str, str]]  # (qualified view name, definition)
    sequences: list[tuple[str, str]]  # (qualified sequence, column) owned by the table
    comment: str | None
    refused: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)


async def read_catalog(conn: asyncpg.Connection, schema: str = SCHEMA, table: str = TABLE) -> Catalog:
    """Everything the conversion carries over; `refused` lists what it cannot convert safely."""
    await conn.execute("SET search_path = pg_catalog")  # every name in the definitions comes qualified
    try:
        return await _read_catalog(conn, schema, table)
    finally:
        await conn.execute("RESET search_path")


async def _read_catalog(conn: asyncpg.Connection, schema: str, table: str) -> Catalog:
    rel = await conn.fetchrow(
        "SELECT c.oid, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner, "
        "obj_description(c.oid, 'pg_class') AS comment, c.reloptions "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
        schema, table,
    )  # fmt: skip
    if rel is None:
        raise PartitionError(f"{schema}.{table} does not exist (run `atlas4d db migrate` first)")
    oid = rel["oid"]
    refused: list[str] = []
    not_carried: list[str] = []
    cols = await conn.fetch(
        "SELECT attname, attidentity <> '' AS attidentity, attacl IS NOT NULL AS has_acl FROM pg_attribute "
        "WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        oid,
    )
    columns = [r["attname"] for r in cols]
    if "t" not in columns:
        refused.append("the table has no column t")
    refused += [f"identity column {r['attname']} (use a sequence default)" for r in cols if r["attidentity"]]
    not_carried += [f"column grants on {r['attname']}" for r in cols if r["has_acl"]]
    if rel["reloptions"]:
        not_carried.append(f"storage parameters {rel['reloptions']} (set them on the partitions)")

    key: list[str] = []
    constraints: list[tuple[str, str]] = []
    for c in await conn.fetch(
        "SELECT conname, contype::text AS contype, pg_get_constraintdef(oid) AS def, conrelid = $1 AS own, "
        "conrelid::regclass::text AS other, "
        "ARRAY(SELECT attname FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum = ANY(conkey)) AS cols "
        "FROM pg_constraint WHERE (conrelid = $1 OR confrelid = $1) AND contype IN ('p', 'u', 'x', 'f')",
        oid,
    ):
        if c["contype"] == "f":
            where = "from" if c["own"] else f"from {c['other']} to"
            refused.append(f"foreign key {c['conname']} {where} the table")
        elif c["contype"] == "x":
            refused.append(f"exclusion constraint {c['conname']}")
        else:
            if "t" not in c["cols"]:
                refused.append(f"{c['conname']}: a unique key without t cannot hold across partitions")
            constraints.append((c["conname"], c["def"]))
            if c["contype"] == "p":
                key = list(c["cols"])
    if not key:
        refused.append("no primary key (the copy needs one that includes t)")

    indexes: list[tuple[str, str]] = []
    for i in await conn.fetch(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def, i.indisvalid, i.indisunique, "
        "ARRAY(SELECT attname FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum = ANY(i.indkey)) AS cols "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
        "ORDER BY c.relname",
        oid,
    ):
        if not i["indisvalid"]:
            not_carried.append(f"invalid index {i['relname']} (a failed CREATE INDEX CONCURRENTLY)")
        elif i["indisunique"] and "t" not in i["cols"]:
            refused.append(f"unique index {i['relname']} without t cannot hold across partitions")
        else:
            indexes.append((i["relname"], i["def"]))

    triggers: list[tuple[str, str]] = []
    for tr in await conn.fetch(
        "SELECT tgname, pg_get_triggerdef(oid) AS def, (tgtype & 1) = 1 AS per_row, "
        "tgnewtable IS NOT NULL OR tgoldtable IS NOT NULL AS transition "
        "FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal ORDER BY tgname",
        oid,
    ):
        if tr["tgname"].startswith(MIRROR_TRIGGER):
            continue
        if tr["per_row"] and tr["transition"]:
            refused.append(f"trigger {tr['tgname']}: row triggers with transition tables (not on partitions)")
        triggers.append((tr["tgname"], tr["def"]))

    policies = []
    for p in await conn.fetch(
        "SELECT polname, polpermissive, polcmd::text AS polcmd, "
        "ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END "
        "      FROM unnest(polroles) r) AS roles, "
        "pg_get_expr(polqual, polrelid) AS qual, pg_get_expr(polwithcheck, polrelid) AS check "
        "FROM pg_policy WHERE polrelid = $1 ORDER BY polname",
        oid,
    ):
        command = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}[p["polcmd"]]
        sql = (
            f"CREATE POLICY {_q(p['polname'])} ON {{table}} AS "
            f"{'PERMISSIVE' if p['polpermissive'] else 'RESTRICTIVE'} FOR {command} TO {', '.join(p['roles'])}"
        )
        if p["qual"] is not None:
            sql += f" USING ({p['qual']})"
        if p["check"] is not None:
            sql += f" WITH CHECK ({p['check']})"
        policies.append(sql)

    grants = [
        f"GRANT {g['privilege_type']} ON {{table}} TO "
        f"{'PUBLIC' if g['grantee'] == 0 else _q(g['grantee_name'])}"
        + (" WITH GRANT OPTION" if g["is_grantable"] else "")
        for g in await conn.fetch(
            "SELECT a.privilege_type, a.grantee, a.is_grantable, "
            "CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END AS grantee_name "
            "FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1 AND a.grantee <> c.relowner",
            oid,
        )
    ]

    views: list[tuple[str, str]] = []
    for d in await conn.fetch(
        "SELECT DISTINCT v.oid::regclass::text AS name, v.relkind::text AS relkind, pg_get_viewdef(v.oid) AS def "
        "FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class v ON v.oid = w.ev_class "
        "WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1 AND v.oid <> $1",
        oid,
    ):
        if d["relkind"] == "m":
            refused.append(f"materialized view {d['name']} reads the table (drop it, convert, recreate it)")
        else:
            views.append((d["name"], d["def"]))
    for f in await conn.fetch(
        "SELECT DISTINCT p.oid::regprocedure::text AS name FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid "
        "WHERE d.classid = 'pg_proc'::regclass AND d.refobjid = $1",
        oid,
    ):
        refused.append(f"function {f['name']} has a SQL-standard body bound to the table")
    not_carried += [
        f"publication {r['pubname']} (add the new table to it)"
        for r in await conn.fetch(
            "SELECT p.pubname FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid "
            "WHERE r.prrelid = $1",
            oid,
        )
    ]
    sequences = [
        (r["seq"], r["attname"])
        for r in await conn.fetch(
            "SELECT s.oid::regclass::text AS seq, a.attname FROM pg_depend d "
            "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.classid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype = 'a'",
            oid,
        )
    ]
    return Catalog(
        oid=oid, columns=columns, key=key, constraints=constraints, indexes=indexes, triggers=triggers,
        policies=policies, rls=rel["relrowsecurity"], force_rls=rel["relforcerowsecurity"],
        owner=rel["owner"], grants=grants, views=views, sequences=sequences, comment=rel["comment"],
        refused=refused, not_carried=not_carried,
    )  # fmt: skip


# ---------------------------------------------------------------- status


@dataclass(frozen=True)
class PartitionInfo:
    name: str
    start: datetime | None  # None: the DEFAULT partition
    end: datetime | None
    rows_estimate: int


BOUND = re.compile(r"FROM \('(?P<lo>[^']+)'\) TO \('(?P<hi>[^']+)'\)")


async def kind(conn: asyncpg.Connection) -> Literal["missing", "table", "partitioned", "hypertable"]:
    relkind = await conn.fetchval(
        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2",
        SCHEMA, TABLE,
    )  # fmt: skip
    if relkind is None:
        return "missing"
    if relkind == "p":
        return "partitioned"
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"):
        hyper = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = $1 AND hypertable_name = $2)",
            SCHEMA, TABLE,
        )  # fmt: skip
        if hyper:
            return "hypertable"
    return "table"


async def partitions(conn: asyncpg.Connection, parent: str = TABLE) -> list[PartitionInfo]:
    """The partitions of atlas4d.<parent>, oldest first, the DEFAULT last."""
    rows = await conn.fetch(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound, greatest(c.reltuples, 0)::bigint AS n "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = (SELECT oid FROM pg_class WHERE relname = $1 "
        "AND relnamespace = 'atlas4d'::regnamespace)",
        parent,
    )
    out = []
    for r in rows:
        m = BOUND.search(r["bound"])
        if m is None:
            out.append(PartitionInfo(r["relname"], None, None, r["n"]))
        else:
            lo, hi = (datetime.fromisoformat(m[k]).astimezone(UTC) for k in ("lo", "hi"))
            out.append(PartitionInfo(r["relname"], lo, hi, r["n"]))
    return sorted(out, key=lambda p: (p.start is None, p.start or datetime.min.replace(tzinfo=UTC)))


def planned_ranges(
    low: datetime | None, high: datetime | None, now: datetime, interval: Interval, ahead: int
) -> list[tuple[datetime, datetime]]:
    """[start, end) ranges from the period of `low` to `ahead` periods past the later of `high` and `now`."""
    last = max(high or now, now)
    start = period_start(low or now, interval)
    stop = period_start(last, interval)
    for _ in range(ahead + 1):
        stop = next_period(stop, interval)
    ranges = []
    while start < stop:
        end = next_period(start, interval)
        ranges.append((start, end))
        start = end
        if len(ranges) > MAX_PARTITIONS:
            raise PartitionError(
                f"the data spans more than {MAX_PARTITIONS} {interval}s ({low} .. {high}): choose a longer "
                "interval or clean up stray timestamps"
            )
    return ranges


def _range_sql(start: datetime, end: datetime) -> str:
    return f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"


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
    async with _no_statement_timeout(conn):
        return await _convert(
            conn, interval=interval, ahead=ahead, batch_rows=batch_rows, drop_old=drop_old, dry_run=dry_run,
            lock_timeout_ms=lock_timeout_ms, swap_attempts=swap_attempts, progress=progress, now=now,
        )  # fmt: skip


@asynccontextmanager
async def _no_statement_timeout(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """The server's statement_timeout (30 s) is a request's, not a full-table scan's or an index build's.
    RESET afterwards returns to the connection's own (ATLAS4D_STATEMENT_TIMEOUT_MS, set at connect)."""
    await conn.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        if not conn.is_closed():
            await conn.execute("RESET statement_timeout")


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
    twin = _qualified(TWIN)
    async with conn.transaction():
        await conn.execute(
            f"CREATE TABLE {twin} (LIKE {SCHEMA}.{TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING GENERATED INCLUDING STATISTICS INCLUDING COMMENTS INCLUDING STORAGE INCLUDING COMPRESSION) "
            "PARTITION BY RANGE (t)"
        )
        for start, end in ranges:
            await conn.execute(
                f"CREATE TABLE {_qualified(partition_name(start))} PARTITION OF {twin} {_range_sql(start, end)}"
            )
        await conn.execute(f"CREATE TABLE {_qualified(DEFAULT_PART)} PARTITION OF {twin} DEFAULT")
        for name, definition in catalog.constraints:
            await conn.execute(f"ALTER TABLE {twin} ADD CONSTRAINT {_q(aside_name(name, 'p'))} {definition}")
        await conn.execute(f"ALTER TABLE {twin} OWNER TO {_q(catalog.owner)}")
        for grant in catalog.grants:
            await conn.execute(grant.format(table=twin))
        if catalog.comment is not None:
            await conn.execute(f"COMMENT ON TABLE {twin} IS {_literal(catalog.comment)}")


async def _build_indexes(conn: asyncpg.Connection, catalog: Catalog) -> None:
    """The twin's secondary indexes, built after the copy: each partition's with CREATE INDEX CONCURRENTLY
    (a sorted bulk build instead of one insertion per row during the copy; writes through the mirror go on),
    attached to a parent index made `ON ONLY` the twin, which turns valid with its last partition. Every step
    is idempotent for a resumed run; a partition index left invalid by an interrupted build is rebuilt."""
    twin = _qualified(TWIN)
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
        await conn.execute(f"CREATE {unique}INDEX IF NOT EXISTS {_q(parent)} ON ONLY {twin} {rest}")
        for leaf, small in leaves:
            child = aside_name(leaf, name)
            valid = await conn.fetchval(
                "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
                f"{SCHEMA}.{_q(child)}",
            )
            if valid is False:
                await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_qualified(child)}")
            # a small partition (the ones ahead, the DEFAULT, a short table) in one plain build: it holds
            # writes to that partition for milliseconds, where a concurrent build waits out two transactions
            how = "" if small else "CONCURRENTLY "
            await conn.execute(
                f"CREATE {unique}INDEX {how}IF NOT EXISTS {_q(child)} ON {_qualified(leaf)} {rest}"
            )
            await conn.execute(f"ALTER INDEX {_qualified(parent)} ATTACH PARTITION {_qualified(child)}")


INDEX_HEAD = re.compile(r"^CREATE (?P<unique>UNIQUE )?INDEX (?P<name>\S+) ON (?:ONLY )?(?P<table>\S+) ")


def _retarget_index(definition: str, name: str, new_name: str, table: str) -> str:
    m = INDEX_HEAD.match(definition)
    if m is None:
        raise PartitionError(f"cannot read the definition of index {name}: {definition}")
    return f"CREATE {m['unique'] or ''}INDEX {_q(new_name)} ON {_qualified(table)} " + definition[m.end() :]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def _install_mirror(
    conn: asyncpg.Connection, catalog: Catalog, lock_timeout_ms: int, attempts: int
) -> None:
    cols = ", ".join(_q(c) for c in catalog.columns)
    new_values = ", ".join(f"NEW.{_q(c)}" for c in catalog.columns)
    key = ", ".join(_q(c) for c in catalog.key)
    updates = ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in catalog.columns if c not in catalog.key)
    old_match = " AND ".join(f"{_q(c)} = OLD.{_q(c)}" for c in catalog.key)
    twin = _qualified(TWIN)
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
    await conn.execute(f"ALTER FUNCTION {MIRROR_FUNCTION}() OWNER TO {_q(catalog.owner)}")
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

    await _with_lock_retries(conn, install, lock_timeout_ms, attempts, "install the mirror trigger")


async def _with_lock_retries(
    conn: asyncpg.Connection,
    work: Callable[[], Awaitable[None]],
    lock_timeout_ms: int,
    attempts: int,
    what: str,
) -> int:
    """Run `work` in a transaction with a lock_timeout, retrying when the lock is not granted in time.

    Waiting for ACCESS EXCLUSIVE in the lock queue blocks every reader that arrives after us, so we wait
    at most lock_timeout, step aside, and try again. Returns the number of attempts used."""
    for attempt in range(1, attempts + 1):
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
                await work()
            return attempt
        except asyncpg.LockNotAvailableError:
            await asyncio.sleep(min(0.1 * attempt, 2.0))
    raise PartitionError(f"could not {what}: the lock was not granted in {attempts} tries; try again later")


async def _copy(
    conn: asyncpg.Connection,
    catalog: Catalog,
    state: asyncpg.Record,
    batch_rows: int,
    progress: Progress | None,
) -> int:
    cols = ", ".join(_q(c) for c in catalog.columns)
    low, high, done = state["low_id"], state["high_id"], state["copied_to"]
    total = await conn.fetchval(
        f"SELECT count(*) FROM ONLY {SCHEMA}.{TABLE} WHERE id > $1 AND id <= $2", low, high
    ) if progress else 0  # fmt: skip
    copied = 0
    statement = (
        f"INSERT INTO {_qualified(TWIN)} ({cols}) SELECT {cols} FROM ONLY {SCHEMA}.{TABLE} "
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
        new = await conn.fetchrow(check.format(_qualified(TWIN)))
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
        await conn.execute(f"LOCK TABLE {SCHEMA}.{TABLE}, {_qualified(TWIN)} IN ACCESS EXCLUSIVE MODE")
        locked = time.perf_counter()
        await conn.execute(f"DROP TRIGGER {MIRROR_TRIGGER} ON {SCHEMA}.{TABLE}")
        await conn.execute(f"DROP TRIGGER {MIRROR_TRIGGER}_truncate ON {SCHEMA}.{TABLE}")
        await conn.execute(f"ALTER TABLE {SCHEMA}.{TABLE} RENAME TO {OLD}")
        old, twin = _qualified(OLD), _qualified(TWIN)
        for name, _ in catalog.constraints:
            await conn.execute(
                f"ALTER TABLE {old} RENAME CONSTRAINT {_q(name)} TO {_q(aside_name(name, 'old'))}"
            )
            await conn.execute(
                f"ALTER TABLE {twin} RENAME CONSTRAINT {_q(aside_name(name, 'p'))} TO {_q(name)}"
            )
        for name, _ in catalog.indexes:
            await conn.execute(f"ALTER INDEX {_qualified(name)} RENAME TO {_q(aside_name(name, 'old'))}")
            await conn.execute(f"ALTER INDEX {_qualified(aside_name(name, 'p'))} RENAME TO {_q(name)}")
        await conn.execute(f"ALTER TABLE {twin} RENAME TO {TABLE}")
        new = f"{SCHEMA}.{TABLE}"
        for sequence, column in catalog.sequences:
            await conn.execute(f"ALTER SEQUENCE {sequence} OWNED BY {new}.{_q(column)}")
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

    report.swap_attempts = await _with_lock_retries(conn, swap, lock_timeout_ms, attempts, "swap the tables")
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
        await conn.execute(f"DROP TABLE IF EXISTS {_qualified(TWIN)}")
        await conn.execute(f"DROP FUNCTION IF EXISTS {MIRROR_FUNCTION}()")
        await conn.execute("DELETE FROM atlas4d.partitioning WHERE table_name = $1", TABLE)
    return bool(had)


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
        async with _no_statement_timeout(conn):
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
                f"SELECT count(*) FROM (SELECT 1 FROM {_qualified(default)} WHERE t >= $1 AND t < $2 "
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
        status = await conn.execute(f"DELETE FROM {_qualified(default)} WHERE t < $1", cutoff)
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
    table = _qualified(name)
    check = _q(aside_name(name, "bounds"))
    cols = ", ".join(
        _q(r["attname"])
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            f"{SCHEMA}.{TABLE}",
        )
    )

    async def add() -> None:
        if move_from is not None:
            await conn.execute(f"LOCK TABLE {_qualified(move_from)} IN ACCESS EXCLUSIVE MODE")
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
                f"WITH moved AS (DELETE FROM {_qualified(move_from)} WHERE t >= $1 AND t < $2 RETURNING {cols}) "
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM moved",
                start, end,
            )  # fmt: skip
        await conn.execute(f"ALTER TABLE {SCHEMA}.{TABLE} ATTACH PARTITION {table} {_range_sql(start, end)}")
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {check}")

    await _with_lock_retries(conn, add, lock_timeout_ms, attempts, f"attach partition {name}")


async def _drop_partition(
    conn: asyncpg.Connection, name: str, has_default: bool, lock_timeout_ms: int, attempts: int
) -> None:
    """DETACH CONCURRENTLY (no ACCESS EXCLUSIVE on the parent) needs a table without a DEFAULT partition;
    with one, a plain DETACH under lock_timeout, retried."""
    table = _qualified(name)
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

    await _with_lock_retries(conn, detach, lock_timeout_ms, attempts, f"detach partition {name}")


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
