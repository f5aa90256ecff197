"""What writes cost each streaming replica: every replica replays all of the primary's WAL, so ingest takes the
same share of every replica's CPU however many there are. `python -m bench.replicas` measures it once per run:
`rows` observations (the demo seeder's binary COPY, with their entities and tracks) into a scratch database on
the primary while the replicas stream, CPU of the primary and of each replica from /proc until every replica has
replayed the last write; the scratch database is dropped at the end."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from atlas4d.db.migrate import core_migrations
from atlas4d.db.pool import create_pool, migrate_database
from atlas4d.demo import seed_scale
from atlas4d.settings import Settings
from bench.procs import cpu_seconds
from bench.replica_clusters import Cluster

SCRATCH = "atlas4d_bench_replay"


@dataclass(frozen=True)
class Replay:
    rows: int
    seconds: float  # the ingest, to its commit
    caught_up_s: float  # after the commit, until every replica had replayed it
    wal_bytes: int
    cpu_ms_per_1k_rows: dict[str, float]  # cluster → CPU-ms per 1,000 rows stored


async def _admin(cluster: Cluster, sql: str) -> None:
    conn = await asyncpg.connect(cluster.pg.admin_url())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _replayed(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


async def _measure(primary: Cluster, replicas: list[Cluster], rows: int) -> Replay:
    await _admin(primary, f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)")
    await _admin(primary, f"CREATE DATABASE {SCRATCH}")
    url = primary.url.rsplit("/", 1)[0] + f"/{SCRATCH}"
    settings = Settings(database_url=url)
    await migrate_database(settings, url, core_migrations())
    pool = await create_pool(settings.model_copy(update={"pool_max_size": 2}), url)
    clusters = [primary, *replicas]
    try:
        await asyncio.sleep(1)  # the migration's WAL replayed before the clock starts
        cpu0 = {c.name: cpu_seconds(c.pids) for c in clusters}
        start_lsn = int(await pool.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
        began = time.monotonic()
        end = datetime(2026, 12, 1, tzinfo=UTC)
        await seed_scale(pool, observations=rows, entities=200, days=1, seed=7, end=end)
        committed = time.monotonic()
        target = int(await pool.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
        replica_urls = [c.url.rsplit("/", 1)[0] + "/postgres" for c in replicas]
        while min([await _replayed(u) for u in replica_urls], default=target) < target:
            if time.monotonic() - committed > 300:
                raise RuntimeError("replicas did not replay the writes within 300 s")
            await asyncio.sleep(0.05)
        caught_up = time.monotonic()
        cpu = {c.name: (cpu_seconds(c.pids) - cpu0[c.name]) * 1_000_000 / rows for c in clusters}
        return Replay(rows, committed - began, caught_up - committed, target - start_lsn, cpu)
    finally:
        await pool.close()
        await _admin(primary, f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)")


def replay_cost(primary: Cluster, replicas: list[Cluster], rows: int) -> Replay:
    return asyncio.run(_measure(primary, replicas, rows))
