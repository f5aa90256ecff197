"""Track refresh cost: appending points to a long track, full rebuild (0004) against the incremental refresh
(0006), in the same run on the same rows.

    python -m bench.track_refresh [--points 10000 100000] [--append 10] [--repeat 15]

For each length it builds one track of that many points in a scratch database (`atlas4d_bench_tracks`,
recreated), then, `--repeat` times, inside a transaction that is rolled back: inserts `--append` later
points and times the refresh as it was before (0004's `refresh_tracks(ids)`, installed under another name)
or `refresh_tracks(ids, since)` (0006: extend). The scratch database also holds 200 other tracks, so the
planner sees a table of many tracks. It also feeds a
whole track in batches of `--append` points through each and reports the total. Prints a Markdown table
(median milliseconds) for bench/RESULTS.md. Nothing here runs in `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources

import asyncpg

from atlas4d.core.ingest import OBSERVATION_COPY_COLUMNS, ewkb_point
from atlas4d.db.embedded import EmbeddedCluster
from atlas4d.db.migrate import core_migrations, migrate
from atlas4d.db.pool import connect
from atlas4d.settings import Settings

DATABASE = "atlas4d_bench_tracks"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FULL = "SELECT atlas4d.bench_refresh_tracks_0004($1::uuid[])"
INCREMENTAL = "SELECT atlas4d.refresh_tracks($1::uuid[], $2::timestamptz[])"


OTHER_TRACKS = 200
OTHER_POINTS = 1_000


def rows(track: uuid.UUID, start: int, count: int, step: int = 1) -> list[tuple[object, ...]]:
    out = []
    for i in range(start, start + count * step, step):
        lon, lat = 27.0 + (i % 5000) * 1e-4, 42.0 + (i // 5000 % 1000) * 1e-3
        row = (
            T0 + timedelta(seconds=i),
            ewkb_point(lon, lat),
            "gps",
            track,
            None,
            lat,
            lon,
            None,
            None,
            None,
            None,
        )
        out.append(row)
    return out


async def copy(conn: asyncpg.Connection, records: list[tuple[object, ...]]) -> None:
    await conn.copy_records_to_table(
        "observations_core", schema_name="atlas4d", columns=OBSERVATION_COPY_COLUMNS, records=records
    )


async def append_once(
    conn: asyncpg.Connection, track: uuid.UUID, length: int, append: int, sql: str
) -> float:
    """Milliseconds of one refresh after appending `append` points, rolled back."""
    tr = conn.transaction()
    await tr.start()
    try:
        await copy(conn, rows(track, length, append))
        args: tuple[object, ...] = ([track],) if sql == FULL else ([track], [T0 + timedelta(seconds=length)])
        began = time.perf_counter()
        await conn.fetchval(sql, *args)
        return (time.perf_counter() - began) * 1000
    finally:
        await tr.rollback()


async def fed_in_batches(conn: asyncpg.Connection, length: int, append: int, sql: str) -> float:
    """Seconds to build a `length`-point track from batches of `append`, each refreshed (rolled back)."""
    track = uuid.uuid4()
    tr = conn.transaction()
    await tr.start()
    total = 0.0
    try:
        for start in range(0, length, append):
            await copy(conn, rows(track, start, append))
            args: tuple[object, ...] = (
                ([track],) if sql == FULL else ([track], [T0 + timedelta(seconds=start)])
            )
            began = time.perf_counter()
            await conn.fetchval(sql, *args)
            total += time.perf_counter() - began
    finally:
        await tr.rollback()
    return total


async def main(lengths: list[int], append: int, repeat: int, fed: int) -> None:
    settings = Settings()
    cluster = EmbeddedCluster.from_settings(settings)
    cluster.start()
    admin = await asyncpg.connect(cluster.admin_url())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    url = cluster.admin_url().rsplit("/", 1)[0] + f"/{DATABASE}"
    raw = await asyncpg.connect(url)
    await migrate(raw, core_migrations())
    # the refresh as it was before 0006 (every call re-aggregates the whole track), under another name
    before = (resources.files("atlas4d.migrations") / "core" / "0004_track_refresh_locks.sql").read_text()
    await raw.execute(before.replace("atlas4d.refresh_tracks(", "atlas4d.bench_refresh_tracks_0004("))
    await raw.close()
    conn = await connect(settings, url)
    try:
        print(
            f"| track length (points) | append {append} points: 0004 rebuild (ms) | 0006 incremental (ms) | ratio |"
        )
        print("|---:|---:|---:|---:|")
        # other tracks over the same days, so the planner sees a table of many tracks, as in real data
        for k in range(OTHER_TRACKS):
            await copy(conn, rows(uuid.uuid4(), k, OTHER_POINTS, step=OTHER_TRACKS))
        for length in lengths:
            track = uuid.uuid4()
            await copy(conn, rows(track, 0, length))
            await conn.fetchval(FULL, [track])
            await conn.execute("ANALYZE atlas4d.observations_core")
            full, incremental = [], []
            for _ in range(repeat):  # interleaved, so load changes hit both alike
                full.append(await append_once(conn, track, length, append, FULL))
                incremental.append(await append_once(conn, track, length, append, INCREMENTAL))
            f, i = statistics.median(full), statistics.median(incremental)
            print(f"| {length:,} | {f:.2f} | {i:.2f} | {f / i:.0f}x |")
        full_s = await fed_in_batches(conn, fed, append, FULL)
        inc_s = await fed_in_batches(conn, fed, append, INCREMENTAL)
        print(
            f"\nA {fed:,}-point track fed in batches of {append}, each refreshed: full rebuild {full_s:.1f} s, "
            f"incremental {inc_s:.1f} s."
        )
    finally:
        await conn.close()
        admin = await asyncpg.connect(cluster.admin_url())
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        finally:
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.track_refresh", description=__doc__)
    parser.add_argument("--points", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--append", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--fed", type=int, default=5_000, help="length of the track fed in batches")
    args = parser.parse_args()
    asyncio.run(main(args.points, args.append, args.repeat, args.fed))
