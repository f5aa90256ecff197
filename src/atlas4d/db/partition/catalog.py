"""Names, periods and durations, the catalog reader, and the helpers conversion and maintenance share
(atlas4d.db.partition)."""

from __future__ import annotations

import asyncio
import hashlib
import re
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


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(name: str) -> str:
    return f"{SCHEMA}.{quote(name)}"


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
            f"CREATE POLICY {quote(p['polname'])} ON {{table}} AS "
            f"{'PERMISSIVE' if p['polpermissive'] else 'RESTRICTIVE'} FOR {command} TO {', '.join(p['roles'])}"
        )
        if p["qual"] is not None:
            sql += f" USING ({p['qual']})"
        if p["check"] is not None:
            sql += f" WITH CHECK ({p['check']})"
        policies.append(sql)

    grants = [
        f"GRANT {g['privilege_type']} ON {{table}} TO "
        f"{'PUBLIC' if g['grantee'] == 0 else quote(g['grantee_name'])}"
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


def range_sql(start: datetime, end: datetime) -> str:
    return f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"


@asynccontextmanager
async def no_statement_timeout(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """The server's statement_timeout (30 s) is a request's, not a full-table scan's or an index build's.
    RESET afterwards returns to the connection's own (ATLAS4D_STATEMENT_TIMEOUT_MS, set at connect)."""
    await conn.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        if not conn.is_closed():
            await conn.execute("RESET statement_timeout")


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def with_lock_retries(
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
