"""Migrations without downtime (issue 13 item 5): the non-transactional kind builds indexes with
`CREATE INDEX CONCURRENTLY` while writes go on, survives a failed build, does not deadlock replicas that
migrate together, and `atlas4d db migrate --dry-run` tells what would run without changing anything."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
import typer
from test_cli_db import invoke, write_migrations

from atlas4d.db.migrate import Migration, load_migrations, migrate, pending
from atlas4d.errors import MigrationError

TABLE = "CREATE SCHEMA {S}; CREATE TABLE {S}.t (id int, v int); INSERT INTO {S}.t SELECT g, g FROM generate_series(1, 1000) g;"
CONCURRENT = "-- atlas4d:no-transaction\n-- builds without locking writes\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON {S}.t (v);\n"


async def index_valid(conn: asyncpg.Connection, name: str) -> bool | None:
    valid: bool | None = await conn.fetchval(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1",
        name,
    )
    return valid


def test_kind_is_read_from_the_leading_comments() -> None:
    assert not Migration("m", "0001", CONCURRENT).transactional
    assert Migration("m", "0001", "CREATE TABLE x (a int);").transactional
    # a marker after the first statement does not make the file non-transactional
    assert Migration("m", "0001", "CREATE TABLE x (a int);\n-- atlas4d:no-transaction\n").transactional
    body = """-- atlas4d:no-transaction
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;  -- a ; in a comment
COMMENT ON TABLE x IS 'semi;colon';
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS x_a ON s.x (a);
"""
    m = Migration("m", "0002", body)
    assert len(m.statements()) == 3
    assert m.statements()[0].startswith("CREATE FUNCTION") and m.statements()[0].endswith("END $$;")
    assert m.concurrent_indexes() == [("s", "x_a")]


async def test_concurrent_index_does_not_block_writes(fresh_database: str, tmp_path: Path) -> None:
    """An open writer makes any index build wait. A transactional CREATE INDEX queues a SHARE lock that every
    later INSERT then waits behind; CREATE INDEX CONCURRENTLY does not, so writes go on meanwhile."""
    folder = tmp_path / "online"
    write_migrations(folder, "online_t", {"0001_table.sql": TABLE})
    a, b, c = [await asyncpg.connect(fresh_database) for _ in range(3)]
    try:
        await migrate(a, load_migrations("online", folder))
        for kind, body in (("locking", "CREATE INDEX t_w ON {S}.t (v);"), ("online", CONCURRENT)):
            version = "0002_locking" if kind == "locking" else "0003_online"
            write_migrations(folder, "online_t", {f"{version}.sql": body})
            writer = b.transaction()
            await writer.start()
            await b.execute("INSERT INTO online_t.t VALUES (0, 0)")  # an open write transaction
            build = asyncio.create_task(migrate(a, load_migrations("online", folder)))
            await asyncio.sleep(0.5)  # the build is now waiting for the open writer
            assert not build.done()
            await c.execute("SET lock_timeout = '1s'")
            if kind == "locking":
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await c.execute("INSERT INTO online_t.t VALUES (-1, -1)")
            else:
                for i in range(20):  # writes proceed while the index is being built
                    await c.execute("INSERT INTO online_t.t VALUES ($1, $1)", 10_000 + i)
            await writer.commit()
            assert [m.version for m in await asyncio.wait_for(build, 30)] == [version]
        assert await index_valid(a, "t_v") is True
        assert await a.fetchval("SELECT count(*) FROM online_t.t WHERE id >= 10000") == 20
    finally:
        for conn in (a, b, c):
            await conn.close()


async def test_failed_concurrent_build_is_retried_from_scratch(fresh_database: str, tmp_path: Path) -> None:
    """A failed CREATE UNIQUE INDEX CONCURRENTLY leaves an INVALID index that IF NOT EXISTS would accept as
    done; the file is not recorded, and the next run drops the invalid index and builds it again."""
    folder = tmp_path / "retry"
    unique = (
        "-- atlas4d:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_v_unique ON {S}.t (v);"
    )
    write_migrations(folder, "retry_t", {"0001_table.sql": TABLE, "0002_unique.sql": unique})
    conn = await asyncpg.connect(fresh_database)
    try:
        await migrate(conn, load_migrations("retry", folder)[:1])
        await conn.execute("INSERT INTO retry_t.t VALUES (1001, 1)")  # a duplicate v
        with pytest.raises(MigrationError, match=r"retry/0002_unique failed: could not create unique index"):
            await migrate(conn, load_migrations("retry", folder))
        assert await index_valid(conn, "t_v_unique") is False
        assert [m.version for m in await pending(conn, load_migrations("retry", folder))] == ["0002_unique"]
        await conn.execute("DELETE FROM retry_t.t WHERE id = 1001")
        assert [m.version for m in await migrate(conn, load_migrations("retry", folder))] == ["0002_unique"]
        assert await index_valid(conn, "t_v_unique") is True
        assert await conn.fetchval("SHOW statement_timeout") == "0"  # the connection's own value, restored
    finally:
        await conn.close()


async def test_replicas_migrating_together_do_not_deadlock_on_a_concurrent_build(
    fresh_database: str, tmp_path: Path
) -> None:
    """Replicas that find the lock taken poll for it: one blocked inside pg_advisory_lock() holds a snapshot
    that the concurrent build on the lock holder waits for (with a blocking lock: DeadlockDetectedError)."""
    folder = tmp_path / "many"
    write_migrations(folder, "many_t", {"0001_table.sql": TABLE, "0002_online.sql": CONCURRENT})
    conns = [await asyncpg.connect(fresh_database) for _ in range(3)]
    try:
        runs = [migrate(c, load_migrations("many", folder)) for c in conns]
        results = await asyncio.wait_for(asyncio.gather(*runs), 60)
        assert sorted(len(r) for r in results) == [0, 0, 2]
        assert await index_valid(conns[0], "t_v") is True
    finally:
        for c in conns:
            await c.close()


def test_cli_dry_run_changes_nothing(cli: typer.Typer, fresh_database: str, tmp_path: Path) -> None:
    folder = tmp_path / "dry"
    write_migrations(folder, "dry_t", {"0001_table.sql": TABLE, "0002_online.sql": CONCURRENT})
    env: dict[str, str | None] = {"ATLAS4D_DATABASE_URL": fresh_database, "ATLAS4D_MODULES": "none"}
    args = ["db", "migrate", "--module", "dry", "--folder", str(folder)]
    code, out = invoke(cli, [*args, "--dry-run", "--sql"], env)
    assert code == 0, out
    assert "would apply dry/0001_table (transactional)" in out
    assert "would apply dry/0002_online (no-transaction)" in out
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON dry_t.t (v);" in out
    assert "2 of 2 migrations pending; nothing was changed" in out

    async def created() -> object:
        conn = await asyncpg.connect(fresh_database)
        try:
            return await conn.fetchval("SELECT to_regclass('dry_t.t')")
        finally:
            await conn.close()

    assert asyncio.run(created()) is None
    code, out = invoke(cli, args, env)
    assert code == 0 and "applied dry/0002_online" in out
    code, out = invoke(cli, [*args, "--dry-run"], env)
    assert code == 0 and "0 of 2 migrations pending" in out
