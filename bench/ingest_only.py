"""`python -m bench.ingest_only [--rows N] [--rounds R]`: the ingest part of the benchmark (Q5) alone, on its
own database, with the targets of issue 17 item 6 checked per round (mutation >= 0.7x the validate+COPY floor,
bulk and CLI >= 0.8x the raw COPY floor). No read database is built; bench/RESULTS.md is not rewritten (its
ingest table is updated by hand from this output, with the date and row count).

Each round brackets the paths with the floors (raw, validate+COPY, the three paths, validate+COPY, raw), and a
path is compared with the mean of its floor's two runs in that round: on a shared machine whose load drifts
within a round, a floor run once before or after the paths was measured at another load than they were. The
load average is printed with every run."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from atlas4d.db.embedded import EmbeddedCluster
from atlas4d.settings import Settings
from bench import ingest as q5
from bench.prepare import INGEST_DB, _create_database
from bench.procs import install_cleanup, postgres_pids, stop
from bench.servers import start_atlas4d

OUT = Path(__file__).resolve().parent / "out"
MUTATION = "ingestObservations (GraphQL, 10k a call)"
BULK = "bulk NDJSON over HTTP (1 connection)"
CLI = "atlas4d ingest FILE (one transaction)"
FLOOR = "floor: orjson + validation + COPY, 1 connection"
RAW = "floor: raw binary COPY, 1 connection"
TARGETS = ((MUTATION, FLOOR, 0.7), (BULK, RAW, 0.8), (CLI, RAW, 0.8))


def main(rows: int, rounds: int) -> None:
    console = Console()
    install_cleanup()
    OUT.mkdir(parents=True, exist_ok=True)
    cluster = EmbeddedCluster.from_settings(Settings(database_url=None))
    cluster.start()
    url = asyncio.run(_create_database(cluster, INGEST_DB, fresh=True))
    pg = lambda: postgres_pids(cluster.data_dir)  # noqa: E731
    path = q5.write_file(OUT / f"ingest-{rows}.ndjson", rows)
    server = start_atlas4d(url, OUT, name="atlas4d-ingest")
    try:
        systems = q5.ingest_systems(url, server.url, server.pids, path, pg)
        results = bracketed(systems, url, rows, rounds)
    finally:
        stop(server.proc)
    for name, runs in results.items():
        per = [r.rows_per_s for r in runs]
        console.print(f"{name}: {sum(per) / len(per):,.0f} rows/s ({min(per):,.0f}-{max(per):,.0f})")
    console.print(f"load average (1/5/15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for path_name, floor_name, goal in TARGETS:
        floors = results[floor_name]
        ratios = [
            a.rows_per_s / ((floors[2 * i].rows_per_s + floors[2 * i + 1].rows_per_s) / 2)
            for i, a in enumerate(results[path_name])
        ]
        status = "met" if min(ratios) >= goal else "NOT met"
        console.print(
            f"{path_name} / {floor_name}: "
            + ", ".join(f"{r:.2f}x" for r in ratios)
            + f"; median {statistics.median(ratios):.2f}x, min {min(ratios):.2f}x (>= {goal}x every round: {status})"
        )


ORDER = (RAW, FLOOR, MUTATION, BULK, CLI, FLOOR, RAW)


def bracketed(
    systems: dict[str, Callable[[], q5.IngestResult]], dsn: str, expected: int, rounds: int
) -> dict[str, list[q5.IngestResult]]:
    """`rounds` rounds in ORDER, each run on an empty, checkpointed table that must end with every row."""
    out: dict[str, list[q5.IngestResult]] = {}
    for _ in range(rounds):
        for name in ORDER:
            asyncio.run(q5.reset(dsn))
            result = systems[name]()
            count = asyncio.run(q5.stored(dsn))
            if result.rows != expected or count != expected:
                raise RuntimeError(
                    f"{name}: reported {result.rows} rows, stored {count}, expected {expected}"
                )
            out.setdefault(name, []).append(result)
            print(f"  {name}: {result.rows_per_s:,.0f} rows/s (load {os.getloadavg()[0]:.1f})", flush=True)
    asyncio.run(q5.reset(dsn))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_only", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    main(args.rows, args.rounds)
