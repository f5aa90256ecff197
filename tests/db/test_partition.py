"""`atlas4d db partition` / `atlas4d db maintain` (atlas4d.db.partition) against real PostgreSQL.

The conversion must keep every row (acknowledged writes during it included), carry over what the table
carries from the catalog, leave queries unchanged and prune by time; maintenance must create ranges ahead,
drop expired ones with their dependent data, and let only one runner act at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import typer
from typer.testing import CliRunner

from atlas4d.db.migrate import core_migrations, migrate
from atlas4d.db.partition import (
    MAINTAIN_LOCK_KEY,
    Duration,
    PartitionError,
    abandon,
    convert,
    maintain,
    partitions,
    planned_ranges,
)

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
START = datetime(2026, 9, 20, tzinfo=UTC)  # rows over Sep 20 .. Dec 4: 4 months
COMPAT_DDL = Path(__file__).parents[1] / "compat" / "core_spec_v0_3.sql"


async def _seed(conn: asyncpg.Connection, n: int) -> None:
    await conn.execute(
        "INSERT INTO atlas4d.observations_core (t, geom, lat, lon, source_type, track_id, metadata) "
        "SELECT $1::timestamptz + (g * interval '75 days') / $2, ST_SetSRID(ST_MakePoint(27 + g % 7 * 0.01, "
        "42.5), 4326), 42.5, 27 + g % 7 * 0.01, 'vehicle', "
        "('00000000-0000-0000-0000-00000000000' || (g % 5))::uuid, jsonb_build_object('g', g) "
        "FROM generate_series(1, $2) g",
        START, n,
    )  # fmt: skip
    await conn.execute(
        "SELECT atlas4d.refresh_tracks(ARRAY(SELECT DISTINCT track_id FROM atlas4d.observations_core))"
    )


async def _fingerprint(conn: asyncpg.Connection, table: str = "atlas4d.observations_core") -> tuple[int, int]:
    row = await conn.fetchrow(
        f"SELECT count(*) AS n, coalesce(sum(hashtextextended(x::text, 0)), 0) AS h FROM {table} x"
    )
    assert row is not None
    return int(row["n"]), int(row["h"])


@pytest.fixture(scope="module")
async def seeded_template(database_url: str) -> AsyncIterator[str]:
    """A migrated, seeded database made once; each test gets a copy (CREATE DATABASE … TEMPLATE)."""
    base = database_url.rsplit("/", 1)[0]
    name = f"atlas4d_parttpl_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        conn = await asyncpg.connect(f"{base}/{name}")
        try:
            await migrate(conn, core_migrations())
            await _seed(conn, 3_000)
        finally:
            await conn.close()
        yield name
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def db(database_url: str, seeded_template: str) -> AsyncIterator[str]:
    base = database_url.rsplit("/", 1)[0]
    name = f"atlas4d_part_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {seeded_template}")
        yield f"{base}/{name}"
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def test_durations_and_ranges() -> None:
    assert Duration.parse("P90D").before(NOW) == NOW - timedelta(days=90)
    assert Duration.parse("p1m").before(datetime(2027, 3, 31, tzinfo=UTC)) == datetime(
        2027, 2, 28, tzinfo=UTC
    )
    assert Duration.parse("P1Y2M").before(NOW) == datetime(2025, 10, 5, 12, tzinfo=UTC)
    assert Duration.parse("PT12H").before(NOW) == datetime(2026, 12, 5, tzinfo=UTC)
    for bad in ("P", "90D", "PT", "P0D", "P1.5D", ""):
        with pytest.raises(ValueError):
            Duration.parse(bad)
    ranges = planned_ranges(START, NOW, NOW, "month", 2)
    assert [r[0].month for r in ranges] == [9, 10, 11, 12, 1, 2]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    weeks = planned_ranges(NOW, NOW, NOW, "week", 0)
    assert weeks == [(datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC))]  # Monday


async def test_conversion_carries_the_catalog_over(db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        # an id far past the others (an original database's ids may have gaps): skipped to, not walked to
        await conn.execute("INSERT INTO atlas4d.observations_core (id, t) VALUES (1000000000000, $1)", NOW)
        # what a module or an operator may have added: an index, a trigger, a grant, a view, tenancy (RLS)
        await conn.execute("SELECT atlas4d.enable_tenancy('atlas4d.observations_core')")
        await conn.execute(
            "CREATE INDEX obs_speed_custom ON atlas4d.observations_core (speed_ms) WHERE speed_ms > 0"
        )
        await conn.execute(
            "CREATE TABLE atlas4d.audit_rows (n bigint); CREATE FUNCTION atlas4d.count_rows() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN INSERT INTO atlas4d.audit_rows SELECT count(*) FROM new_rows; "
            "RETURN NULL; END $$; CREATE TRIGGER obs_count AFTER INSERT ON atlas4d.observations_core "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atlas4d.count_rows()"
        )
        await conn.execute(
            "DO $$ BEGIN CREATE ROLE atlas4d_reader_test NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        await conn.execute("GRANT SELECT ON atlas4d.observations_core TO atlas4d_reader_test")
        await conn.execute("CREATE VIEW atlas4d.recent_obs AS SELECT id, t FROM atlas4d.observations_core")
        before = await _fingerprint(conn)
        dry = await convert(conn, dry_run=True, now=NOW)
        assert (
            dry.outcome == "dry-run"
            and await conn.fetchval("SELECT to_regclass('atlas4d.observations_core_partitioned')") is None
        )

        report = await convert(conn, batch_rows=700, ahead=2, now=NOW)
        assert report.outcome == "converted" and report.rows_verified == before[0]
        assert (
            await conn.fetchval(
                "SELECT relkind::text FROM pg_class WHERE oid = 'atlas4d.observations_core'::regclass"
            )
            == "p"
        )
        assert await _fingerprint(conn) == before
        names = [p.name for p in await partitions(conn)]
        assert names == [f"observations_core_p2026{m:02d}01" for m in (9, 10, 11, 12)] + [
            "observations_core_p20270101", "observations_core_p20270201", "observations_core_default",
        ]  # fmt: skip

        def idx(rel: str) -> str:
            return (
                "SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_index i JOIN pg_class c "
                f"ON c.oid = i.indexrelid WHERE i.indrelid = '{rel}'::regclass"
            )

        new_indexes = await conn.fetchval(idx("atlas4d.observations_core"))
        old_indexes = await conn.fetchval(idx("atlas4d.observations_core_unpartitioned"))
        assert "obs_speed_custom" in new_indexes and "observations_core_pkey" in new_indexes
        assert sorted(n + "_old" for n in new_indexes) == old_indexes
        triggers = await conn.fetchval(
            "SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger "
            "WHERE tgrelid = 'atlas4d.observations_core'::regclass AND NOT tgisinternal"
        )
        assert triggers == ["obs_count", "observations_notify"]
        policies = await conn.fetchval(
            "SELECT array_agg(polname::text ORDER BY polname) FROM pg_policy WHERE polrelid = 'atlas4d.observations_core'::regclass"
        )
        assert policies == ["atlas4d_everyone", "atlas4d_tenant_rows"]
        assert await conn.fetchval(
            "SELECT relrowsecurity FROM pg_class WHERE oid = 'atlas4d.observations_core'::regclass"
        )
        assert await conn.fetchval(
            "SELECT has_table_privilege('atlas4d_reader_test', 'atlas4d.observations_core', 'SELECT')"
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM atlas4d.tenant_tables WHERE table_name = 'atlas4d.observations_core'::regclass"
            )
            == 1
        )
        assert (
            await conn.fetchval("SELECT pg_get_serial_sequence('atlas4d.observations_core', 'id')")
            == "atlas4d.observations_core_id_seq"
        )
        # the view reads the new table; the trigger fires there and not on the kept old table
        await conn.execute(
            "INSERT INTO atlas4d.observations_core (t) VALUES ($1), ($2)",
            NOW,
            datetime(2031, 1, 1, tzinfo=UTC),
        )
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.recent_obs") == before[0] + 2
        assert (
            await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core_unpartitioned") == before[0]
        )
        assert await conn.fetchval("SELECT array_agg(n) FROM atlas4d.audit_rows") == [2]
        assert (
            await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core_default") == 1
        )  # 2031: not refused
        again = await convert(conn, now=NOW)
        assert again.outcome == "already partitioned"
    finally:
        await conn.close()


async def test_partition_pruning(db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        await convert(conn, now=NOW)
        await conn.execute("ANALYZE atlas4d.observations_core")
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) SELECT id FROM atlas4d.observations_core "
            "WHERE t >= '2026-10-03' AND t < '2026-10-05' AND ST_DWithin(geom::geography, "
            "ST_SetSRID(ST_MakePoint(27, 42.5), 4326)::geography, 5000)"
        )
        scanned = {n for n in _relations(json.loads(plan))}
        assert scanned == {"observations_core_p20261001"}
        prepared = await conn.prepare(
            "SELECT count(*) FROM atlas4d.observations_core WHERE t >= $1 AND t < $2"
        )  # a parameterised query (as the API sends): pruned at execution
        runtime = await prepared.explain(
            datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC), analyze=True
        )
        executed = {n for n in _relations(runtime) if n.startswith("observations_core_p")}
        never = _never_executed(runtime)
        assert executed - never == {"observations_core_p20261101"}
    finally:
        await conn.close()


def _relations(plan: object) -> list[str]:
    out: list[str] = []
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            out.append(plan["Relation Name"])
        for v in plan.values():
            out += _relations(v)
    elif isinstance(plan, list):
        for v in plan:
            out += _relations(v)
    return out


def _never_executed(plan: object) -> set[str]:
    out: set[str] = set()
    if isinstance(plan, dict):
        if "Relation Name" in plan and plan.get("Actual Loops") == 0:
            out.add(plan["Relation Name"])
        for v in plan.values():
            out |= _never_executed(v)
    elif isinstance(plan, list):
        for v in plan:
            out |= _never_executed(v)
    return out


async def test_concurrent_writes_during_conversion_are_all_kept(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers insert, update and delete while the copy runs in small batches and the indexes are built
    concurrently; every acknowledged insert is stored (minus the acknowledged deletes), updates win, and
    the table equals the oracle row for row."""
    import atlas4d.db.partition.conversion

    monkeypatch.setattr(
        atlas4d.db.partition.conversion, "SMALL_PARTITION_BYTES", 0
    )  # every partition: CONCURRENTLY
    pool = await asyncpg.create_pool(db, min_size=3, max_size=3)
    conn = await asyncpg.connect(db)
    acknowledged: dict[int, float] = {}
    deleted: set[int] = set()
    updated: dict[int, float] = {}
    done = asyncio.Event()
    rng = random.Random(7)

    async def writer(k: int) -> None:
        while not done.is_set():
            async with pool.acquire() as c:
                rows = await c.fetch(
                    "INSERT INTO atlas4d.observations_core (t, speed_ms) SELECT $1::timestamptz + g * interval '1 h', "
                    "$2 FROM generate_series(1, 5) g RETURNING id, speed_ms",
                    START + timedelta(days=rng.randrange(70)), float(k),
                )  # fmt: skip
                acknowledged.update({r["id"]: r["speed_ms"] for r in rows})
                old = rng.randrange(1, 3_000)  # a row the copy may be copying right now
                if rng.random() < 0.5:
                    if (
                        await c.execute("DELETE FROM atlas4d.observations_core WHERE id = $1", old)
                        == "DELETE 1"
                    ):
                        deleted.add(old)
                else:
                    speed = rng.random()
                    if (
                        await c.execute(
                            "UPDATE atlas4d.observations_core SET speed_ms = $2 WHERE id = $1", old, speed
                        )
                        == "UPDATE 1"
                    ):
                        updated[old] = speed
            await asyncio.sleep(0)

    try:
        writers = [asyncio.create_task(writer(k)) for k in range(2)]
        await asyncio.sleep(0.2)
        report = await convert(conn, batch_rows=150, now=NOW, progress=lambda done_, total: None)
        await asyncio.sleep(0.2)  # writes go on after the swap, now into the partitions
        done.set()
        await asyncio.gather(*writers)
        assert report.outcome == "converted" and len(acknowledged) > 0 and len(deleted) > 0
        stored = {
            r["id"]: r["speed_ms"]
            for r in await conn.fetch("SELECT id, speed_ms FROM atlas4d.observations_core WHERE id > 3000")
        }
        assert stored == acknowledged
        seeded = {
            r["id"]: r["speed_ms"]
            for r in await conn.fetch("SELECT id, speed_ms FROM atlas4d.observations_core WHERE id <= 3000")
        }
        assert set(seeded) == set(range(1, 3_001)) - deleted
        assert all(seeded[i] == s for i, s in updated.items() if i not in deleted)
    finally:
        done.set()
        await pool.close()
        await conn.close()


class Crash(Exception):
    pass


async def test_interrupted_conversion_resumes(db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        calls = 0

        def crash(done: int, total: int) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise Crash

        with pytest.raises(Crash):
            await convert(conn, batch_rows=500, now=NOW, progress=crash)
        assert await conn.fetchval("SELECT copied_to FROM atlas4d.partitioning") == 1_500
        # written between the runs: mirrored into the copied part, the part still to copy, and new rows
        await conn.execute("DELETE FROM atlas4d.observations_core WHERE id IN (10, 2000)")
        await conn.execute("UPDATE atlas4d.observations_core SET speed_ms = 9 WHERE id IN (11, 2001)")
        await conn.execute("INSERT INTO atlas4d.observations_core (t) VALUES ($1)", NOW)
        expected = await _fingerprint(conn)
        # a partition's index build that failed (CREATE INDEX CONCURRENTLY leaves it invalid) is rebuilt
        child = "atlas4d.observations_core_p20261001_observations_geom_gist"
        await conn.execute(f"CREATE INDEX {child.split('.')[1]} ON atlas4d.observations_core_p20261001 (id)")
        await conn.execute(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{child}'::regclass")
        report = await convert(conn, batch_rows=500, now=NOW)
        assert report.outcome == "converted"
        assert report.rows_copied == 1_498  # 2000 deleted, 2001 mirrored by its update
        assert await conn.fetchval(f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{child}'::regclass")
        assert "USING gist (geom)" in await conn.fetchval(f"SELECT pg_get_indexdef('{child}'::regclass)")
        assert await conn.fetchval(
            "SELECT bool_and(i.indisvalid) FROM pg_index i WHERE i.indrelid = 'atlas4d.observations_core'::regclass"
        )
        assert await _fingerprint(conn) == expected
    finally:
        await conn.close()


async def test_refusals_and_abandon(db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        await conn.execute(
            "CREATE UNIQUE INDEX obs_unique_meta ON atlas4d.observations_core ((metadata->>'g'))"
        )
        report = await convert(conn, now=NOW)
        assert report.outcome == "refused" and any("obs_unique_meta" in r for r in report.refused)
        await conn.execute("DROP INDEX atlas4d.obs_unique_meta")
        await conn.execute("CREATE TABLE atlas4d.observations_core_unpartitioned (x int)")
        with pytest.raises(PartitionError):
            await convert(conn, now=NOW)
        await conn.execute("DROP TABLE atlas4d.observations_core_unpartitioned")
        with pytest.raises(Crash):
            await convert(conn, batch_rows=500, now=NOW, progress=_interrupt)
        assert await abandon(conn)
        assert await conn.fetchval("SELECT to_regclass('atlas4d.observations_core_partitioned')") is None
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'atlas4d.observations_core'::regclass AND tgname LIKE 'atlas4d_partition%'"
            )
            == 0
        )
    finally:
        await conn.close()


def _interrupt(done: int, total: int) -> None:
    raise Crash


async def test_maintain_ahead_retention_and_lock(db: str) -> None:
    conn = await asyncpg.connect(db)
    other = await asyncpg.connect(db)
    try:
        assert (await maintain(conn, retention=None, now=NOW)).outcome == "not partitioned"
        await convert(conn, ahead=0, now=NOW)
        await conn.execute("INSERT INTO atlas4d.observations_core (t) VALUES ('2027-01-15')")  # into DEFAULT
        await conn.execute(
            "INSERT INTO atlas4d.ingest_keys (source, external_id, t) VALUES ('s', 'old', '2026-09-21'), ('s', 'new', $1)",
            NOW,
        )
        tracks_before = await conn.fetchval("SELECT count(*) FROM atlas4d.tracks")
        await other.execute("SELECT pg_advisory_lock($1)", MAINTAIN_LOCK_KEY)
        assert (await maintain(conn, retention=None, now=NOW)).outcome == "busy"
        await other.execute("SELECT pg_advisory_unlock($1)", MAINTAIN_LOCK_KEY)

        report = await maintain(conn, retention=Duration.parse("P2M"), ahead=2, now=NOW)
        assert report.outcome == "done"
        # January's row, written into DEFAULT before January had a partition, moved into the new one
        assert report.created == ["observations_core_p20270101", "observations_core_p20270201"]
        assert report.moved == {"observations_core_p20270101": 1} and report.skipped == []
        assert (
            await conn.fetchval(
                "SELECT tableoid::regclass::text FROM atlas4d.observations_core WHERE t = '2027-01-15'"
            )
            == "atlas4d.observations_core_p20270101"
        )
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core_default") == 0
        assert report.dropped == ["observations_core_p20260901"]  # Oct 5 cutoff: September is entirely older
        names = [p.name for p in await partitions(conn)]
        assert "observations_core_p20260901" not in names and "observations_core_p20261001" in names
        assert await conn.fetchval("SELECT min(t) FROM atlas4d.observations_core") >= datetime(
            2026, 10, 1, tzinfo=UTC
        )
        assert await conn.fetchval("SELECT array_agg(external_id) FROM atlas4d.ingest_keys") == ["new"]
        # tracks ran Sep 20 .. Dec 4: none ended before October, all crossed it and were refreshed
        assert report.tracks_refreshed == tracks_before and report.tracks_deleted == 0
        assert await conn.fetchval("SELECT min(start_time) FROM atlas4d.tracks") >= datetime(
            2026, 10, 1, tzinfo=UTC
        )
        assert await conn.fetchval(
            "SELECT bool_and(tr.point_count = (SELECT count(*) FROM atlas4d.observations_core o WHERE o.track_id = tr.id)) "
            "FROM atlas4d.tracks tr"
        )
        again = await maintain(conn, retention=Duration.parse("P2M"), ahead=2, now=NOW)
        assert again.created == [] and again.dropped == []
        # a partition far ahead (made by hand) does not stop the next months from being created
        await conn.execute(
            "CREATE TABLE atlas4d.observations_core_p20310101 PARTITION OF atlas4d.observations_core "
            "FOR VALUES FROM ('2031-01-01') TO ('2031-02-01')"
        )
        later = await maintain(conn, retention=None, ahead=1, now=datetime(2027, 4, 10, tzinfo=UTC))
        assert later.created == ["observations_core_p20270401", "observations_core_p20270501"]
        # a new partition attached by maintain carries the parent's indexes and triggers
        await conn.execute("INSERT INTO atlas4d.observations_core (t) VALUES ('2027-02-10')")
        assert (
            await conn.fetchval(
                "SELECT tableoid::regclass::text FROM atlas4d.observations_core WHERE t = '2027-02-10'"
            )
            == "atlas4d.observations_core_p20270201"
        )
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'atlas4d.observations_core_p20270201'::regclass"
        ) == await conn.fetchval(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'atlas4d.observations_core_p20261201'::regclass"
        )
    finally:
        await other.close()
        await conn.close()


async def test_original_database_partitioned_and_written_by_an_original_client(fresh_database: str) -> None:
    """An original Atlas4D database (Core Spec DDL, its own index names), adopted then partitioned: an
    original client's plain INSERT without id still works, ids continue from the sequence."""
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute(COMPAT_DDL.read_text(encoding="utf-8"))
        await conn.execute(
            "INSERT INTO atlas4d.observations_core (t, geom, source_type, lat, lon) VALUES "
            "('2026-11-01T10:00Z', ST_SetSRID(ST_MakePoint(27.4, 42.5), 4326), 'radar', 42.5, 27.4)"
        )
        await migrate(conn, core_migrations())
        report = await convert(conn, now=NOW, drop_old=True)
        assert report.outcome == "converted"
        assert await conn.fetchval("SELECT to_regclass('atlas4d.observations_core_unpartitioned')") is None
        indexes = await conn.fetchval(
            "SELECT array_agg(c.relname::text) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'atlas4d.observations_core'::regclass"
        )
        assert {"idx_obs_geom", "idx_obs_source", "idx_obs_track"} <= set(indexes)
        new_id = await conn.fetchval(
            "INSERT INTO atlas4d.observations_core (t, geom, source_type, lat, lon) VALUES "
            "(now(), ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), 'radar', 42.5, 27.5) RETURNING id"
        )
        assert new_id == 2
        assert await conn.fetchval("SELECT metadata FROM atlas4d.observations_core WHERE id = 2") == "{}"
    finally:
        await conn.close()


def test_cli_partition_and_maintain(cli: typer.Typer, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS4D_DATABASE_URL", db)
    runner = CliRunner()
    dry = runner.invoke(cli, ["db", "partition", "--dry-run", "--interval", "week"])
    assert dry.exit_code == 0, dry.output
    assert "week partitions" in dry.output and "mirror trigger" in dry.output
    bad = runner.invoke(cli, ["db", "partition", "--interval", "fortnight"])
    assert bad.exit_code == 2
    monkeypatch.setenv("ATLAS4D_RETENTION", "P30D")
    early = runner.invoke(cli, ["db", "maintain"])
    assert early.exit_code == 0 and "needs `atlas4d db partition` first" in early.output, early.output
    monkeypatch.delenv("ATLAS4D_RETENTION")
    done = runner.invoke(cli, ["db", "partition", "--json"])
    assert done.exit_code == 0, done.output
    document = json.loads(done.output.strip().splitlines()[-1])
    assert document["outcome"] == "converted" and document["rows_verified"] == 3_000
    monkeypatch.setenv("ATLAS4D_RETENTION", "P100Y")
    kept = runner.invoke(cli, ["db", "maintain", "--json"])
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.output)["report"]["dropped"] == []
    listed = runner.invoke(cli, ["db", "maintain", "--dry-run"])
    assert (
        listed.exit_code == 0 and "observations_core_default" in listed.output and "DEFAULT" in listed.output
    )
    monkeypatch.setenv("ATLAS4D_RETENTION", "ninety days")
    refused = runner.invoke(cli, ["db", "maintain"])
    assert refused.exit_code != 0


async def test_serve_runs_maintenance_in_the_background(db: str) -> None:
    from atlas4d.app import create_app
    from atlas4d.settings import Settings

    conn = await asyncpg.connect(db)
    try:
        await convert(conn, ahead=0)
        before = {p.name for p in await partitions(conn)}
        settings = Settings(
            database_url=None, pool_min_size=1, pool_max_size=2, gc_freeze=False, maintain_interval_s=1,
            partitions_ahead=4,
        )  # fmt: skip
        app = create_app(settings, dsn=db, modules=[])
        async with app.router.lifespan_context(app):
            for _ in range(100):  # polled, not timed: the first run comes after one interval
                added = {p.name for p in await partitions(conn)} - before
                if len(added) == 4:
                    break
                await asyncio.sleep(0.1)
        assert len(added) == 4
    finally:
        await conn.close()


async def test_a_concurrent_index_migration_works_on_the_partitioned_table(db: str) -> None:
    """PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table: the migrator builds it per
    partition and attaches it, so a module's online-index migration works on both kinds of table."""
    from atlas4d.db.migrate import Migration

    sql = (
        "-- atlas4d:no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS obs_heading_t ON atlas4d.observations_core (heading_deg, t);\n"
    )
    conn = await asyncpg.connect(db)
    try:
        await convert(conn, ahead=1, now=NOW)
        parts = await conn.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'atlas4d.observations_core'::regclass"
        )
        # a failed earlier build left one partition's index invalid: it is rebuilt
        await conn.execute(
            "CREATE INDEX observations_core_p20261001_obs_heading_t ON atlas4d.observations_core_p20261001 (id)"
        )
        await conn.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
            "'atlas4d.observations_core_p20261001_obs_heading_t'::regclass"
        )
        applied = await migrate(conn, [Migration("test", "0001_heading", sql)])
        assert [m.version for m in applied] == ["0001_heading"]
        assert await conn.fetchval(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'atlas4d.obs_heading_t'::regclass"
        )
        attached = await conn.fetch(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) AS def FROM pg_inherits h "
            "JOIN pg_index i ON i.indexrelid = h.inhrelid JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE h.inhparent = 'atlas4d.obs_heading_t'::regclass"
        )
        assert len(attached) == parts and all(r["indisvalid"] for r in attached)
        assert all("(heading_deg, t)" in r["def"] for r in attached)
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) SELECT id FROM atlas4d.observations_core "
            "WHERE heading_deg = 5 AND t >= '2026-11-02' AND t < '2026-11-03'"
        )
        assert "obs_heading_t" in plan
    finally:
        await conn.close()


async def test_the_servers_statement_timeout_does_not_apply(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI connections carry ATLAS4D_STATEMENT_TIMEOUT_MS (30 s), shorter than a verification scan or an index
    build of a big table: conversion and maintenance lift it for their statements and restore it after.
    The long statements are made long on purpose (a 0.4 s sleep inside the verification and the maintenance
    work, against a 150 ms timeout), so the test proves the lifting on any machine; the timeout is not so short
    that a loaded machine trips it on the few catalog queries maintenance runs before it lifts it."""
    from atlas4d.db.partition import conversion, maintenance

    def slowed(step: Any) -> Any:
        async def step_after_a_long_statement(conn: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
            await conn.execute("SELECT pg_sleep(0.4)")
            return await step(conn, *args, **kwargs)

        return step_after_a_long_statement

    monkeypatch.setattr(conversion, "_verify", slowed(conversion._verify))
    monkeypatch.setattr(maintenance, "_maintain", slowed(maintenance._maintain))
    conn = await asyncpg.connect(db, server_settings={"statement_timeout": "150ms"})
    try:
        with pytest.raises(asyncpg.QueryCanceledError):  # what the sleep does where nothing lifts the timeout
            await conn.execute("SELECT pg_sleep(0.4)")
        report = await convert(conn, batch_rows=3_000, now=NOW)
        assert report.outcome == "converted" and report.rows_verified == 3_000
        assert (await maintain(conn, retention=Duration.parse("P1Y"), now=NOW)).outcome == "done"
        assert await conn.fetchval("SHOW statement_timeout") == "150ms"
    finally:
        await conn.close()


async def test_maintain_leaves_a_large_default_range_alone(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import atlas4d.db.partition.maintenance

    conn = await asyncpg.connect(db)
    try:
        await convert(conn, ahead=0, now=NOW)
        await conn.execute("INSERT INTO atlas4d.observations_core (t) VALUES ('2027-01-15'), ('2027-01-16')")
        monkeypatch.setattr(atlas4d.db.partition.maintenance, "MOVE_MAX_ROWS", 1)
        report = await maintain(conn, retention=None, ahead=2, now=NOW)
        assert report.created == ["observations_core_p20270201"] and report.moved == {}
        assert len(report.skipped) == 1 and "observations_core_p20270101" in report.skipped[0]
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core_default") == 2
    finally:
        await conn.close()
