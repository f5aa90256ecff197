"""`atlas4d db …` and what it stands on: idempotent, checksum-guarded migrations; the embedded cluster's
start, stop and restart (a private cluster on its own port and data dir, stopped at the end)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import typer
from typer.testing import CliRunner

from atlas4d.db.embedded import EmbeddedCluster
from atlas4d.db.migrate import core_migrations, load_migrations, migrate, migration_states
from atlas4d.errors import MigrationError

runner = CliRunner()


def invoke(app: typer.Typer, args: list[str], env: dict[str, str | None]) -> tuple[int, str]:
    result = runner.invoke(app, args, env=env)
    return result.exit_code, result.output


def write_migrations(folder: Path, schema: str, files: dict[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(body.replace("{S}", schema), encoding="utf-8")


async def test_core_migrations_apply_once(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        first = await migrate(conn, core_migrations())
        assert [m.version for m in first] == [m.version for m in core_migrations()]
        assert await migrate(conn, core_migrations()) == []
        assert all(s.applied for s in await migration_states(conn, core_migrations()))
        tables = {
            r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'atlas4d'")
        }
        assert {"observations_core", "anomalies", "trajectory_embeddings", "entities", "tracks"} <= tables
        recorded = await conn.fetchval("SELECT count(*) FROM atlas4d.schema_migrations WHERE module = 'core'")
        assert recorded == len(core_migrations())
    finally:
        await conn.close()


async def test_replicas_migrating_together_apply_each_file_once(fresh_database: str) -> None:
    conns = [await asyncpg.connect(fresh_database) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, core_migrations()) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(core_migrations())]
    finally:
        for c in conns:
            await c.close()


async def test_edited_migration_is_refused(fresh_database: str, tmp_path: Path) -> None:
    folder, module = tmp_path / "migrations", "clitest"
    write_migrations(
        folder, "atlas4d_clitest", {"0001_init.sql": "CREATE SCHEMA {S}; CREATE TABLE {S}.t (x int);"}
    )
    conn = await asyncpg.connect(fresh_database)
    try:
        assert [m.version for m in await migrate(conn, load_migrations(module, folder))] == ["0001_init"]
        (folder / "0001_init.sql").write_text(
            "CREATE SCHEMA atlas4d_clitest; CREATE TABLE atlas4d_clitest.t (x bigint);", encoding="utf-8"
        )
        write_migrations(folder, "atlas4d_clitest", {"0002_more.sql": "CREATE TABLE {S}.u (y int);"})
        with pytest.raises(MigrationError, match=r"clitest/0001_init was edited"):
            await migrate(conn, load_migrations(module, folder))
        # nothing after the refusal ran, not even the new file
        assert await conn.fetchval("SELECT to_regclass('atlas4d_clitest.u')") is None
        assert (
            await conn.fetchval("SELECT count(*) FROM atlas4d.schema_migrations WHERE module = $1", module)
            == 1
        )
        write_migrations(
            folder,
            "atlas4d_clitest",
            {"0001_init.sql": "CREATE SCHEMA {S}; CREATE TABLE {S}.t (x int);"},
        )
        assert [m.version for m in await migrate(conn, load_migrations(module, folder))] == ["0002_more"]
    finally:
        await conn.close()


def test_cli_migrate_reports_and_refuses(cli: typer.Typer, fresh_database: str, tmp_path: Path) -> None:
    # ATLAS4D_MODULES=none: only core's migrations (with modules enabled, theirs follow core's)
    env: dict[str, str | None] = {"ATLAS4D_DATABASE_URL": fresh_database, "ATLAS4D_MODULES": "none"}
    code, out = invoke(cli, ["db", "migrate"], env)
    assert code == 0, out
    assert [line for line in out.splitlines() if line.startswith("applied")] == [
        f"applied core/{m.version}" for m in core_migrations()
    ]
    code, out = invoke(cli, ["db", "migrate"], env)
    assert code == 0 and "up to date" in out and "applied" not in out
    code, out = invoke(cli, ["db", "migrate"], {**env, "ATLAS4D_MODULES": "telecom"})
    assert code == 0 and "applied telecom/0001" in out and "applied core" not in out

    folder = tmp_path / "mod"
    write_migrations(folder, "atlas4d_climod", {"0001_a.sql": "CREATE SCHEMA {S};"})
    args = ["db", "migrate", "--module", "climod", "--folder", str(folder)]
    code, out = invoke(cli, args, env)
    assert code == 0 and "applied climod/0001_a" in out
    (folder / "0001_a.sql").write_text("CREATE SCHEMA atlas4d_climod; -- changed", encoding="utf-8")
    code, out = invoke(cli, args, env)
    assert code == 1
    assert "MIGRATION_ERROR" in out and "climod/0001_a was edited" in out
    assert "Traceback" not in out


def test_cli_demo_and_seed(cli: typer.Typer, fresh_database: str) -> None:
    env: dict[str, str | None] = {"ATLAS4D_DATABASE_URL": fresh_database}
    code, out = invoke(cli, ["db", "demo", "--seed", "5", "--end", "2026-01-01T00:00:00"], env)
    assert code == 0, out
    assert "24 vehicles, 28 network nodes" in out and "2025-12-31 00:00 → 2026-01-01 00:00 UTC" in out
    code, out = invoke(
        cli, ["db", "seed", "--scale", "600", "--entities", "6", "--days", "2", "--seed", "3"], env
    )
    assert code == 0, out
    assert "seeded 600 observations, 6 entities, 12 tracks" in out

    async def counts() -> tuple[int, int, int]:
        conn = await asyncpg.connect(fresh_database)
        try:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM atlas4d.entities), (SELECT count(*) FROM atlas4d.anomalies), "
                "(SELECT count(*) FROM atlas4d.observations_core WHERE source_type IN ('gps', 'ais', 'adsb'))"
            )
            assert row is not None
            return row[0], row[1], row[2]
        finally:
            await conn.close()

    assert asyncio.run(counts()) == (52 + 6, 15, 600)
    code, out = invoke(cli, ["db", "seed", "--scale", "10", "--entities", "0"], env)
    assert code == 2  # refused by the option's bounds before touching anything


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def cluster_home(tmp_path: Path) -> Iterator[Path]:
    """A data dir the postgres OS user can reach (tmp_path is under /tmp/pytest-of-root, closed to it)."""
    home = (
        Path("/var/lib/atlas4d-test") / uuid.uuid4().hex[:12] if os.geteuid() == 0 else tmp_path / "cluster"
    )
    yield home
    cluster = EmbeddedCluster(home / "pg", 1, "atlas4d")
    if cluster.initialised() and cluster.running():
        cluster.stop()
    shutil.rmtree(home, ignore_errors=True)


def test_embedded_start_stop_restart(cli: typer.Typer, cluster_home: Path) -> None:
    port = _free_port()
    env: dict[str, str | None] = {
        "ATLAS4D_DATABASE_URL": None,
        "ATLAS4D_DATA_DIR": str(cluster_home),
        "ATLAS4D_EMBEDDED_PORT": str(port),
        "ATLAS4D_EMBEDDED_DATABASE": "atlas4d",
    }
    cluster = EmbeddedCluster(cluster_home / "pg", port, "atlas4d")

    async def sql(query: str) -> object:
        conn = await asyncpg.connect(cluster.url, timeout=5)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    code, out = invoke(cli, ["db", "status"], env)
    assert code == 0 and "not running" in out
    code, out = invoke(cli, ["db", "start"], env)
    assert code == 0, out
    assert f"running postgresql://postgres@127.0.0.1:{port}/atlas4d" in out
    assert cluster.initialised() and cluster.running()
    asyncio.run(sql("CREATE TABLE kept AS SELECT 42 AS answer"))
    code, out = invoke(cli, ["db", "start"], env)  # already running: left alone
    assert code == 0 and cluster.running()
    code, out = invoke(cli, ["db", "status"], env)
    assert "not running" not in out and "running" in out and str(cluster_home) in out

    code, out = invoke(cli, ["db", "stop"], env)
    assert code == 0 and "stopped" in out
    assert not cluster.running()
    with pytest.raises(OSError):
        asyncio.run(sql("SELECT 1"))
    code, out = invoke(cli, ["db", "status"], env)
    assert "not running" in out

    code, out = invoke(cli, ["db", "start"], env)
    assert code == 0, out
    assert asyncio.run(sql("SELECT answer FROM kept")) == 42  # data survived the restart
    code, out = invoke(cli, ["db", "stop"], env)
    assert code == 0 and not cluster.running()


def test_start_with_external_database_does_nothing(cli: typer.Typer) -> None:
    code, out = invoke(cli, ["db", "start"], {"ATLAS4D_DATABASE_URL": "postgresql://nowhere/x"})
    assert code == 0 and "external" in out


async def test_server_on_a_new_database_ingests_by_copy_at_once(fresh_database: str) -> None:
    """The server's own start-up migration creates PostGIS; its pool must come up knowing the geometry type
    (it once registered the codec before the migration ran, and COPY failed until a restart)."""
    from datetime import UTC, datetime, timedelta

    import httpx

    from atlas4d.app import create_app
    from atlas4d.settings import Settings

    settings = Settings(database_url=None, pool_min_size=1, pool_max_size=2, copy_threshold=10)
    app = create_app(settings, dsn=fresh_database, modules=[])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items = [
        {"time": (start + timedelta(seconds=i)).isoformat(), "lon": 27.0 + i / 1000, "lat": 42.5}
        for i in range(25)
    ]
    mutation = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post("/graphql", json={"query": mutation, "variables": {"o": items}})
    assert response.json() == {"data": {"ingestObservations": {"accepted": 25}}}
    conn = await asyncpg.connect(fresh_database)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core WHERE geom IS NOT NULL") == 25
        )
    finally:
        await conn.close()


async def test_migrations_ignore_the_request_statement_timeout(fresh_database: str, tmp_path: Path) -> None:
    """Connections carry the request timeout (ATLAS4D_STATEMENT_TIMEOUT_MS); an index build on a large table
    takes longer, and a migration must not be cancelled by it."""
    folder = tmp_path / "slow"
    write_migrations(folder, "slow_mod", {"0001_slow.sql": "SELECT pg_sleep(0.5);"})
    conn = await asyncpg.connect(fresh_database, server_settings={"statement_timeout": "100"})
    try:
        with pytest.raises(asyncpg.QueryCanceledError):
            await conn.execute("SELECT pg_sleep(0.5)")  # the connection's timeout is live
        applied = await migrate(conn, load_migrations("slow_mod", folder))
        assert [m.version for m in applied] == ["0001_slow"]
        assert await conn.fetchval("SHOW statement_timeout") == "100ms"  # SET LOCAL: only inside it
    finally:
        await conn.close()
