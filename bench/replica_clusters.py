"""The clusters of `python -m bench.replicas`: a private primary holding the seeded bench database (kept between
runs, like `atlas4d_bench`, and stopped at the end) and streaming replicas cloned from it with `pg_basebackup -R`
for each run (deleted at the end). All listen on free loopback ports; as root they run as the `postgres` OS user.

Every cluster loads `pg_stat_statements`, so the bench counts the statements each one served (how reads spread)
without waiting for the cumulative statistics, which a backend flushes up to 10 s after it goes idle.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from rich.console import Console

from atlas4d.db.embedded import EmbeddedCluster
from atlas4d.settings import Settings, default_data_dir
from bench.prepare import bench_database, prepare_databases
from bench.procs import free_port, postgres_pids

STATEMENTS = "pg_stat_statements"


def home() -> Path:
    """Where the bench's clusters live: a folder the postgres OS user can reach when we are root."""
    if os.geteuid() == 0:
        return Path("/var/lib/atlas4d-bench/replicas")
    return default_data_dir().parent / "atlas4d-bench-replicas"


@dataclass(frozen=True)
class Cluster:
    name: str  # primary | replica 1 | replica 2 …
    pg: EmbeddedCluster
    url: str  # the bench database on it

    def pids(self) -> list[int]:
        return postgres_pids(self.pg.data_dir)


async def _sql(url: str, query: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def _with_statement_counts(pg: EmbeddedCluster) -> None:
    """Load pg_stat_statements (a restart when it is not loaded yet); replicas inherit the setting."""
    loaded = asyncio.run(_sql(pg.admin_url(), "SHOW shared_preload_libraries"))
    if STATEMENTS not in str(loaded):
        asyncio.run(_sql(pg.admin_url(), f"ALTER SYSTEM SET shared_preload_libraries = '{STATEMENTS}'"))
        pg.stop()
        pg.start()


@contextmanager
def one_run_at_a_time() -> Iterator[None]:
    """The primary's data directory is shared between runs: a second run at the same time would find it
    running on another port (and stop it under the first)."""
    home().mkdir(parents=True, exist_ok=True)
    with (home() / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"another `python -m bench.replicas` is running ({home()} is locked)") from None
        yield


def start_primary(console: Console, *, observations: int, entities: int, days: int) -> Cluster:
    """The private primary on a free port, with the bench database seeded by the core benchmark's own seeding
    (`bench/prepare.py`: same rows, the mobility module, the shared planner settings)."""
    base = home()
    settings = Settings(database_url=None, data_dir=base / "primary", embedded_port=free_port())
    pg = EmbeddedCluster.from_settings(settings)
    pg.start()
    _with_statement_counts(pg)
    asyncio.run(
        prepare_databases(
            settings, console, observations=observations, entities=entities, days=days, ingest=False
        )
    )
    url = pg.admin_url().rsplit("/", 1)[0] + "/" + bench_database(observations)
    asyncio.run(_sql(url, f"CREATE EXTENSION IF NOT EXISTS {STATEMENTS}"))
    asyncio.run(_sql(url, "CHECKPOINT"))  # so that a clone's fast checkpoint has little to write
    return Cluster("primary", pg, url)


@contextmanager
def replicas(primary: Cluster, count: int, console: Console) -> Iterator[list[Cluster]]:
    """`count` hot standbys of `primary`, each a `pg_basebackup -R -X stream -c fast` copy on a free port;
    stopped and deleted at the end."""
    run = home() / f"run-{uuid.uuid4().hex[:8]}"
    made: list[Cluster] = []
    try:
        for i in range(1, count + 1):
            pg = EmbeddedCluster(run / f"replica{i}" / "pg", free_port(), primary.pg.database)
            console.print(f"pg_basebackup: replica {i} of {primary.url.rsplit('/', 1)[1]} on port {pg.port}")
            pg.clone_from(primary.pg)
            pg.start()
            made.append(
                Cluster(f"replica {i}", pg, primary.url.replace(f":{primary.pg.port}/", f":{pg.port}/"))
            )
            if asyncio.run(_sql(made[-1].url, "SELECT pg_is_in_recovery()")) is not True:
                raise RuntimeError(f"replica {i} is not in recovery")
        yield made
    finally:
        for cluster in reversed(made):
            cluster.pg.stop()
        shutil.rmtree(run, ignore_errors=True)


async def statement_calls(url: str) -> int:
    """Statements this cluster has executed against the bench's tables (its `atlas4d*` schemas), all time: the
    read router's freshness checks, `set_config` and the like do not count."""
    conn = await asyncpg.connect(url)
    try:
        calls = await conn.fetchval(
            f"SELECT coalesce(sum(calls), 0) FROM {STATEMENTS} "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query ~ 'atlas4d[a-z_]*\\.' AND query !~* 'pg_stat_statements'"
        )
        return int(calls)
    finally:
        await conn.close()
