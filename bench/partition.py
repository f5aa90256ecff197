"""`python -m bench.partition`: `atlas4d db partition` on a copy of a seeded database, while a writer inserts.

Copies `--source` (seed it with `atlas4d db seed --scale 1000000 --days 90`) twice with CREATE DATABASE …
TEMPLATE, converts one copy while a writer inserts 100-row batches and acknowledges each, then prints: the
conversion's time (copy, all), how long the swap held ACCESS EXCLUSIVE, the writer's slowest batch and how many
acknowledged rows are stored (must be all). Then Q1 and Q3 (bench/queries.py's shape: bbox + 1 h, 5 km + 1 day,
first 1,000) as parameterised SQL on both copies, alternately, sequential: p50 of each. Prints; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from atlas4d.db.partition import convert

Q1 = (
    "SELECT o.id, o.t, o.speed_ms, ST_AsGeoJSON(o.geom) AS geometry, e.name "
    "FROM atlas4d.observations_core o LEFT JOIN atlas4d.entities e ON e.id = o.entity_id "
    "WHERE ST_Intersects(o.geom, ST_MakeEnvelope(27.2, 42.2, 27.8, 42.8, 4326)) "
    "AND o.t >= $1 AND o.t < $2 ORDER BY o.t DESC, o.id DESC LIMIT 1000"
)
Q3 = (
    "SELECT o.id, o.t, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat, o.speed_ms FROM atlas4d.observations_core o "
    "WHERE ST_DWithin(o.geom::geography, ST_SetSRID(ST_MakePoint(27.47, 42.5), 4326)::geography, 5000) "
    "AND o.t >= $1 AND o.t < $2 ORDER BY o.t DESC, o.id DESC LIMIT 1000"
)


async def copy_database(admin_url: str, source: str, name: str) -> str:
    admin = await asyncpg.connect(f"{admin_url}/postgres")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {source}")
    finally:
        await admin.close()
    return f"{admin_url}/{name}"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:54329")
    parser.add_argument("--source", default="atlas4d_partbench")
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--queries-only", action="store_true", help="Reuse the copies of a previous run.")
    args = parser.parse_args()
    plain, parted = (f"{args.admin_url}/{args.source}_{k}" for k in ("plain", "parted"))
    if not args.queries_only:
        await copy_database(args.admin_url, args.source, f"{args.source}_plain")
        await copy_database(args.admin_url, args.source, f"{args.source}_parted")
        await conversion(parted, args.batch_rows)
    await queries(plain, parted, args.rounds)
    print(f"at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


async def conversion(parted: str, batch_rows: int) -> None:

    conn = await asyncpg.connect(parted)
    rows = await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core")
    lo = await conn.fetchval("SELECT min(t) FROM atlas4d.observations_core")
    hi = await conn.fetchval("SELECT max(t) FROM atlas4d.observations_core")
    pool = await asyncpg.create_pool(parted, min_size=1, max_size=1)
    acknowledged: list[int] = []
    slowest = 0.0
    stop = asyncio.Event()

    slow: list[
        tuple[float, float]
    ] = []  # (seconds since the conversion began, insert ms) of inserts > 200 ms
    started = {"at": 0.0}

    async def writer() -> None:
        nonlocal slowest
        while not stop.is_set():
            began = time.perf_counter()
            ids = await pool.fetch(
                "INSERT INTO atlas4d.observations_core (t, geom, lat, lon) SELECT now() - g * interval '1 s', "
                "ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), 42.5, 27.5 FROM generate_series(1, 100) g RETURNING id"
            )
            took = time.perf_counter() - began
            slowest = max(slowest, took)
            if took > 0.2 and started["at"]:
                slow.append((began - started["at"], took * 1000))
            acknowledged.extend(r["id"] for r in ids)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(writer())
    await asyncio.sleep(10)  # the writer's pace without a conversion
    before, began = len(acknowledged), time.perf_counter()
    started["at"] = began
    report = await convert(conn, batch_rows=batch_rows)
    during = (len(acknowledged) - before) / (time.perf_counter() - began)
    await asyncio.sleep(0.5)
    stop.set()
    await task
    stored = await conn.fetchval(
        "SELECT count(*) FROM atlas4d.observations_core WHERE id = ANY($1)", acknowledged
    )
    await pool.close()
    await conn.close()
    load = os.getloadavg()
    print(
        f"{rows:,} rows ({lo:%Y-%m-%d} .. {hi:%Y-%m-%d}): converted in {report.seconds:.1f} s "
        f"(copy {report.copy_seconds:.1f} s, {report.rows_copied:,} rows); swap held the lock "
        f"{report.lock_ms:.1f} ms (attempt {report.swap_attempts}); writer: {len(acknowledged):,} rows "
        f"acknowledged, {stored:,} stored, slowest 100-row insert {slowest * 1000:.0f} ms, "
        f"{before / 10:,.0f} rows/s before the conversion, {during:,.0f} during it (mirror trigger); "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    phases = ", ".join(f"{k} at {v:.1f} s" for k, v in report.phases.items())
    print(
        f"phases: {phases}; inserts over 200 ms (s since start, ms): "
        + (", ".join(f"{t:.1f}: {ms:.0f}" for t, ms in slow) or "none")
    )


async def queries(plain: str, parted: str, rounds: int) -> None:
    probe = await asyncpg.connect(plain)
    hi = await probe.fetchval("SELECT max(t) FROM atlas4d.observations_core")
    await probe.close()
    day = (hi - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    windows = {
        "Q1": (Q1, day + timedelta(hours=12), day + timedelta(hours=13)),
        "Q3": (Q3, day, day + timedelta(days=1)),
    }
    conns = {"plain": await asyncpg.connect(plain), "partitioned": await asyncpg.connect(parted)}
    for c in conns.values():
        # as the server's connections (atlas4d.db.pool)
        await c.execute("SET plan_cache_mode = force_custom_plan; SET max_parallel_workers_per_gather = 0")
        await c.execute("ANALYZE atlas4d.observations_core")
    for name, (sql, start, end) in windows.items():
        times: dict[str, list[float]] = {k: [] for k in conns}
        answers = {}
        for _ in range(rounds):
            for kind, c in conns.items():
                began = time.perf_counter()
                result = await c.fetch(sql, start, end)
                times[kind].append((time.perf_counter() - began) * 1000)
                answers[kind] = [r["id"] for r in result]
        same = answers["plain"] == answers["partitioned"]
        load = os.getloadavg()
        print(
            f"{name} ({start:%Y-%m-%d %H:%M} +{(end - start) / timedelta(hours=1):.0f} h, {len(answers['plain'])} rows, "
            f"same ids: {same}): p50 plain {statistics.median(times['plain']):.2f} ms, partitioned "
            f"{statistics.median(times['partitioned']):.2f} ms; load {load[0]:.2f}"
        )
    for c in conns.values():
        await c.close()


if __name__ == "__main__":
    asyncio.run(main())
