"""The whole benchmark: set-up, the id check, interleaved read rounds, ingest, the micro-benchmark, the report."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console

from atlas4d.settings import Settings
from bench import ingest as q5
from bench import micro
from bench.load import Measurement, lua_script, pgbench, wrk
from bench.prepare import MODULE, prepare
from bench.procs import install_cleanup, postgres_pids, stop
from bench.queries import QUERY_NAMES, SYSTEMS, Query, all_queries
from bench.report import Report, latency_growth, machine, save_reads, section, write
from bench.servers import Server, start_atlas4d, start_gateways, start_postgraphile, versions

OUT = Path(__file__).resolve().parent / "out"


@dataclass(frozen=True)
class Options:
    observations: int = 1_000_000
    entities: int = 2_000
    days: int = 7
    duration: int = 20
    warmup: int = 5
    rounds: int = 2
    ingest_rows: int = 1_000_000
    ingest_rounds: int = 2
    systems: tuple[str, ...] = SYSTEMS
    skip_ingest: bool = False
    skip_reads: bool = False
    queries: tuple[str, ...] = QUERY_NAMES


def fetch_ids(query: Query, system: str, server: Server | None, dsn: str) -> Any:
    request = query.requests[system]
    if system == "raw-sql":
        sql = request.sql
        assert sql is not None

        async def rows() -> list[Any]:
            conn = await asyncpg.connect(dsn)
            try:
                return [tuple(r) for r in await conn.fetch(sql.rstrip(";"))]
            finally:
                await conn.close()

        return query.ids(system, asyncio.run(rows()))
    assert server is not None and request.body is not None
    response = httpx.post(server.url, json=request.body, timeout=60)
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{system} {query.name} failed: {response.text[:1000]}")
    return query.ids(system, body["data"])


def check_same_ids(
    queries: list[Query], servers: dict[str, Server], dsn: str, console: Console
) -> dict[str, int]:
    """Every system must return the same ids, in the same order, for each query; fails loudly otherwise."""
    counts = {}
    for query in queries:
        answers = {
            s: fetch_ids(query, s, servers.get(s), dsn)
            for s in query.requests
            if s in servers or s == "raw-sql"
        }
        reference = answers["raw-sql"]
        for system, ids in answers.items():
            if ids != reference:
                raise SystemExit(
                    f"{query.name}: {system} returned different ids than raw SQL "
                    f"({len(ids)} vs {len(reference)}; first difference at "
                    f"{next((i for i, (a, b) in enumerate(zip(ids, reference, strict=False)) if a != b), min(len(ids), len(reference)))})"
                )
        n = sum(len(x[1]) + 1 for x in reference) if query.name == "Q2" else len(reference)
        counts[query.name] = n
        console.print(f"{query.name}: {len(answers)} systems agree on {n} ids")
    return counts


def run_reads(
    options: Options, queries: list[Query], servers: dict[str, Server], dsn: str, pg: Any, console: Console
) -> dict[str, dict[str, list[Measurement]]]:
    scripts = OUT / "lua"
    scripts.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[Measurement]]] = {q.name: {} for q in queries}
    me = os.getpid()
    for round_no in range(options.rounds):
        for query in queries:
            # rotate the order each round so no system always runs right after another
            order = [s for s in options.systems if s in query.requests]
            order = order[round_no % len(order) :] + order[: round_no % len(order)]
            for system in order:
                request = query.requests[system]
                if system == "raw-sql":
                    assert request.sql is not None
                    m = pgbench(
                        dsn, request.sql, duration=options.duration, warmup=options.warmup,
                        server=lambda: [me], postgres=pg,
                    )  # fmt: skip
                else:
                    server = servers[system]
                    assert request.body is not None
                    script = lua_script(request.body, scripts, f"{query.name}-{system}")
                    m = wrk(
                        server.url, script, duration=options.duration, warmup=options.warmup,
                        server=server.pids, postgres=pg,
                    )  # fmt: skip
                results[query.name].setdefault(system, []).append(m)
                console.print(
                    f"round {round_no + 1} {query.name} {system}: {m.rps:,.0f} req/s, p50 {m.p50_ms:.1f} ms, "
                    f"p99 {m.p99_ms:.1f} ms, CPU {m.server_cores:.2f} + pg {m.postgres_cores:.2f}"
                )
    return results


def main(options: Options) -> None:
    console = Console()
    install_cleanup()
    OUT.mkdir(parents=True, exist_ok=True)
    host = machine()
    settings = Settings(database_url=None)
    dbs = prepare(
        settings,
        console,
        observations=options.observations,
        entities=options.entities,
        days=options.days,
        ingest=not options.skip_ingest,
    )
    pg = lambda: postgres_pids(dbs.cluster.data_dir)  # noqa: E731
    queries = [q for q in all_queries() if q.name in options.queries]
    servers: dict[str, Server] = {}
    reads: dict[str, dict[str, list[Measurement]]] = {}
    id_counts: dict[str, int] = {}
    try:
        if "atlas4d" in options.systems:
            servers["atlas4d"] = start_atlas4d(dbs.bench_url, OUT, modules=MODULE.name)
            servers.update(start_gateways(servers["atlas4d"], MODULE.name, OUT, options.systems))
        for version in ("v5", "v4"):
            if f"postgraphile-{version}" in options.systems:
                servers[f"postgraphile-{version}"] = start_postgraphile(version, dbs.bench_url, OUT)
        console.print("servers up: " + ", ".join(f"{s.name} {s.url}" for s in servers.values()))
        id_counts = check_same_ids(queries, servers, dbs.bench_url, console)
        if not options.skip_reads:
            reads = run_reads(options, queries, servers, dbs.bench_url, pg, console)
            save_reads(reads, OUT / f"reads-{options.observations}.json")
    finally:
        for server in servers.values():
            stop(server.proc)
    ingest_results: dict[str, list[q5.IngestResult]] = {}
    if not options.skip_ingest:
        console.print(f"Q5: ingest of {options.ingest_rows:,} observations")
        path = q5.write_file(OUT / f"ingest-{options.ingest_rows}.ndjson", options.ingest_rows)
        server = start_atlas4d(dbs.ingest_url, OUT, name="atlas4d-ingest")
        try:
            systems = q5.ingest_systems(dbs.ingest_url, server.url, server.pids, path, pg)
            ingest_results = q5.measure(
                systems, dbs.ingest_url, options.ingest_rows, options.ingest_rounds, set()
            )
        finally:
            stop(server.proc)
    console.print("in-process execution (micro-benchmark)")
    micro_results = micro.run(micro.available_executors())
    report = Report(
        params={
            "observations": f"{options.observations:,}",
            "entities": f"{options.entities:,}",
            "days": str(options.days),
            "duration": str(options.duration),
            "warmup": str(options.warmup),
            "rounds": str(options.rounds),
            "workers": str(os.cpu_count()),
            "ingest_rows": f"{options.ingest_rows:,}",
        },
        reads=reads,
        titles={q.name: q.title for q in queries},
        id_counts=id_counts,
        ingest=ingest_results,
        micro=micro_results,
        versions={**host, **versions(dbs.bench_url)},
        growth=latency_growth(reads, OUT / "reads-10000000.json")
        if options.observations == 1_000_000
        else {},
    )
    partial = set(options.systems) != set(SYSTEMS) or set(options.queries) != set(QUERY_NAMES)
    if options.skip_reads or options.skip_ingest or partial:
        console.print(section(report))  # a partial run is shown, never written over the full results
        console.print("[yellow]partial run: bench/RESULTS.md left as it was[/yellow]")
    else:
        console.print(write(report))
