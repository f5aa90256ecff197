# ruff: noqa: RUF001
"""`python -m bench.growth`: how Q1's and Q3's latency grows from 1M to 10M observations, in one run.

Both read databases (`atlas4d_bench` and `atlas4d_bench_10000000`, seeded as `make bench` seeds them) are
served at once: ours as configured by default (one statement per page), ours with `ATLAS4D_TIME_SLICES=true`
(pages near a place read in time slices, atlas4d.core.slices) and raw SQL by pgbench. Each round measures
every (query, scale, system) with the order rotated, so the load of a shared machine drifting during the run
hits all alike. Writes the `growth` section of bench/RESULTS.md (`--report-only`: again from the last run's
bench/out/growth*.json); `python -m bench` reads nothing from it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from atlas4d.settings import Settings
from bench.load import Measurement, lua_script, pgbench, wrk
from bench.prepare import Databases, prepare_databases
from bench.procs import install_cleanup, postgres_pids, stop
from bench.queries import Query, q1, q3
from bench.report import RESULTS, _replace_between
from bench.run import OUT, check_same_ids
from bench.servers import Server, start_atlas4d

START, END = "<!-- growth:start -->", "<!-- growth:end -->"
SCALES = (1_000_000, 10_000_000)
SYSTEMS = ("atlas4d", "atlas4d-sliced", "raw-sql")
SLICES = {"atlas4d": "false", "atlas4d-sliced": "true"}  # ATLAS4D_TIME_SLICES of each of our servers
GOAL = 2.0

Results = dict[str, dict[int, dict[str, list[Measurement]]]]  # query → scale → system → rounds


def measure(
    queries: list[Query], servers: dict[tuple[int, str], Server], dbs: dict[int, Databases],
    duration: int, warmup: int, rounds: int, console: Console,
) -> Results:  # fmt: skip
    scripts = OUT / "lua"
    scripts.mkdir(parents=True, exist_ok=True)
    me = os.getpid()
    pg = lambda: postgres_pids(dbs[SCALES[0]].cluster.data_dir)  # noqa: E731
    results: Results = {q.name: {s: {} for s in SCALES} for q in queries}
    runs = [(q, scale, system) for q in queries for scale in SCALES for system in SYSTEMS]
    for round_no in range(rounds):
        shift = round_no * 5 % len(runs)
        for query, scale, system in runs[shift:] + runs[:shift]:
            if system == "raw-sql":
                sql = query.requests["raw-sql"].sql
                assert sql is not None
                m = pgbench(
                    dbs[scale].bench_url,
                    sql,
                    duration=duration,
                    warmup=warmup,
                    server=lambda: [me],
                    postgres=pg,
                )
            else:
                server = servers[(scale, system)]
                body = query.requests["atlas4d"].body
                assert body is not None
                script = lua_script(body, scripts, f"growth-{query.name}")
                m = wrk(server.url, script, duration=duration, warmup=warmup, server=server.pids, postgres=pg)
            results[query.name][scale].setdefault(system, []).append(m)
            console.print(
                f"round {round_no + 1} {query.name} {scale:,} {system}: {m.rps:,.0f} req/s, p50 {m.p50_ms:.1f} ms"
            )
    return results


def p50(runs: list[Measurement]) -> float:
    return statistics.median(m.p50_ms for m in runs)


def section(results: Results, params: dict[str, str]) -> str:
    lines = [
        START,
        "## Latency growth 1M → 10M observations (Q1, Q3)",
        "",
        f"`python -m bench.growth`, {params['date']}: both read databases served at once, "
        f"wrk/pgbench at concurrency 16, {params['rounds']} rounds of {params['duration']} s after a "
        f"{params['warmup']} s warm-up, every (query, scale, system) once per round in rotated order; load average "
        f"before {params['load_before']}, after {params['load_after']} (2 cores, shared). `atlas4d` is the "
        "server as configured by default (one statement per page); `atlas4d-sliced` the same server with "
        "`ATLAS4D_TIME_SLICES=true`. p50 is the median of the rounds' p50s; every system returned raw SQL's "
        "ids at both scales first.",
        "",
        "| query | system | p50 ms at 1M (per round) | p50 ms at 10M (per round) | growth | req/s 1M | req/s 10M |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for query, scales in results.items():
        for system in SYSTEMS:
            small, large = scales[SCALES[0]][system], scales[SCALES[1]][system]
            each = [" / ".join(f"{m.p50_ms:.1f}" for m in runs) for runs in (small, large)]
            rps = [statistics.median(m.rps for m in runs) for runs in (small, large)]
            lines.append(
                f"| {query} | {system} | {p50(small):.1f} ({each[0]}) | {p50(large):.1f} ({each[1]}) | "
                f"{p50(large) / p50(small):.2f}× | {rps[0]:,.0f} | {rps[1]:,.0f} |"
            )
    lines += ["", "| target | measured | goal | status |", "|---|---:|---:|---|"]
    for query, scales in results.items():
        growth = p50(scales[SCALES[1]]["atlas4d"]) / p50(scales[SCALES[0]]["atlas4d"])
        raw = p50(scales[SCALES[1]]["raw-sql"]) / p50(scales[SCALES[0]]["raw-sql"])
        status = "**met**" if growth <= GOAL else f"not met: {growth / GOAL:.2f}× over"
        lines.append(
            f"| {query} p50 growth 1M → 10M (raw SQL {raw:.2f}× in the same run) | {growth:.2f}× | ≤ {GOAL:.0f}× | {status} |"
        )
    lines.append(END)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from the last run")
    args = parser.parse_args(argv)
    console = Console()
    if args.report_only:
        report(console)
        return
    install_cleanup()
    OUT.mkdir(parents=True, exist_ok=True)
    for tool in ("wrk", "pgbench"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: run `make bench` once (it installs wrk) or make setup")
    settings = Settings(database_url=None)
    dbs = {
        n: asyncio.run(prepare_databases(settings, console, observations=n, entities=2_000, days=7))
        for n in SCALES
    }
    queries = [q1(), q3()]
    servers: dict[tuple[int, str], Server] = {}
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    try:
        for n in SCALES:
            for system, slices in SLICES.items():
                servers[(n, system)] = start_atlas4d(
                    dbs[n].bench_url,
                    OUT,
                    name=f"growth-{system}-{n}",
                    settings={"ATLAS4D_TIME_SLICES": slices},
                )
        for n in SCALES:
            for system in SLICES:
                # the id check asks the `atlas4d` request of each query: point it at this server
                check_same_ids(queries, {"atlas4d": servers[(n, system)]}, dbs[n].bench_url, console)
        results = measure(queries, servers, dbs, args.duration, args.warmup, args.rounds, console)
    finally:
        for server in servers.values():
            stop(server.proc)
    params = {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "duration": str(args.duration),
        "warmup": str(args.warmup),
        "rounds": str(args.rounds),
        "load_before": load_before,
        "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    (OUT / "growth.json").write_text(
        json.dumps(
            {
                q: {str(n): {s: [asdict(m) for m in r] for s, r in v.items()} for n, v in sc.items()}
                for q, sc in results.items()
            }
        )
    )
    (OUT / "growth-params.json").write_text(json.dumps(params))
    report(console)


def report(console: Console) -> None:
    saved = json.loads((OUT / "growth.json").read_text())
    params = json.loads((OUT / "growth-params.json").read_text())
    results: Results = {
        q: {int(n): {s: [Measurement(**m) for m in r] for s, r in v.items()} for n, v in sc.items()}
        for q, sc in saved.items()
    }
    block = section(results, params)
    RESULTS.write_text(_replace_between(RESULTS.read_text(), START, END, block))
    console.print(block)


if __name__ == "__main__":
    main()
