# ruff: noqa: RUF001, RUF002
"""`python -m bench.replicas`: Q1–Q3 through PostgreSQL streaming replicas of the read path (issue 13 item 7).

A private primary with the core benchmark's seeded database (bench/replica_clusters.py) and two hot standbys
cloned from it with `pg_basebackup -R`; `atlas4d serve` processes reading through ATLAS4D_READ_DATABASE_URLS.
Configurations, each served by its own gateways (all started up front, idle when not measured):

- primary only: one gateway (uvicorn, 2 workers), no replicas — the baseline, and the cost of routing;
- 1 replica, 2 replicas: the same gateway reading from one, then two replicas (round robin among fresh ones);
- 1 gateway × 1 worker vs 2 gateways × 1 worker over one replica: stateless gateway replicas side by side,
  each on its own port and driven by its own wrk (8 + 8 connections) — what a load balancer would do.

Q1–Q3 (bench/queries.py) at 16 connections (wrk), rounds interleaved (every query runs every configuration in
each round, in an order rotated per round). Each run reports req/s, p50/p99, CPU from /proc split by tier
(gateway processes, primary, each replica; wrk's own from our reaped children) and the statements each cluster
executed against the bench tables (pg_stat_statements), i.e. how the reads spread. Every configuration first
returns the same ids as raw SQL on the primary. On 2 cores every process shares the same cores: 2 replicas do
not double throughput here; the per-request CPU of each tier is what carries to N machines (docs/scaling.md).

A full run writes its section of bench/RESULTS.md and the numbers of docs/scaling.md §2 (between their markers);
`--quick` (100k rows, short runs) only prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from bench.load import latency_ms, lua_script
from bench.procs import cpu_seconds, install_cleanup, stop
from bench.queries import Query, q1, q2, q3
from bench.replica_clusters import Cluster, one_run_at_a_time, replicas, start_primary, statement_calls
from bench.replica_replay import Replay, replay_cost
from bench.replicas_docs import write_docs
from bench.replicas_report import Run, write_section
from bench.run import fetch_ids
from bench.servers import Server, start_atlas4d

CONNECTIONS = 16


@dataclass(frozen=True)
class Config:
    name: str
    replicas: int  # read replicas the gateways route to (0: reads on the primary)
    gateways: int  # `atlas4d serve` processes, each on its own port
    workers: int  # uvicorn workers per gateway


CONFIGS = (
    Config("primary only", 0, 1, 2),
    Config("1 replica", 1, 1, 2),
    Config("2 replicas", 2, 1, 2),
    Config("1 gateway × 1 worker, 1 replica", 1, 1, 1),
    Config("2 gateways × 1 worker, 1 replica", 1, 2, 1),
)


@dataclass(frozen=True)
class Options:
    observations: int = 1_000_000
    entities: int = 2_000
    days: int = 7
    duration: int = 15
    warmup: int = 3
    rounds: int = 2
    configs: tuple[Config, ...] = CONFIGS
    replay_rows: int = 200_000  # observations ingested to measure what writes cost each replica (0: skip)


def wait_fresh(server: Server, replicas: int, seconds: float = 60) -> None:
    """Until the gateway's /health reports every replica it routes to as fresh."""
    base = server.url.rsplit("/graphql", 1)[0]
    deadline = time.monotonic() + seconds
    state: object = None
    while time.monotonic() < deadline:
        state = httpx.get(base + "/health", timeout=10).json().get("read_replicas", [])
        if state == ["fresh"] * replicas:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name}: replicas not fresh: {state}")


def start_gateways(config: Config, primary: Cluster, reads: list[Cluster], logs: Path) -> list[Server]:
    routed = reads[: config.replicas]
    settings = {"ATLAS4D_READ_DATABASE_URLS": ",".join(c.url for c in routed)} if routed else {}
    out = []
    for i in range(config.gateways):
        slug = re.sub(r"[^a-z0-9]+", "-", config.name.lower()).strip("-")
        server = start_atlas4d(
            primary.url, logs, workers=config.workers, name=f"{slug}-{i + 1}", settings=settings
        )
        wait_fresh(server, len(routed))
        out.append(server)
    return out


def _wrk(url: str, script: Path, seconds: int, connections: int, threads: int) -> list[str]:
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "--latency",
            "-s", str(script), url]  # fmt: skip


def _process_cpu(pid: int) -> float:
    return cpu_seconds(lambda: [pid])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drive(servers: list[Server], script: Path, seconds: int) -> list[str]:
    """wrk against each gateway at once, CONNECTIONS split between them; their outputs."""
    share, threads = CONNECTIONS // len(servers), 2 if len(servers) == 1 else 1
    procs = [
        subprocess.Popen(_wrk(s.url, script, seconds, share, threads), stdout=subprocess.PIPE, text=True)
        for s in servers
    ]
    try:
        outs = [p.communicate(timeout=seconds + 120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"wrk exited with {p.returncode}:\n{out}")
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        if bad or (errors and re.search(r"(connect|read|write|timeout) [1-9]", errors.group(1))):
            raise RuntimeError(f"errors during the run:\n{out}")
    return outs


def _number(pattern: str, out: str) -> float:
    match = re.search(pattern, out)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in wrk output:\n{out}")
    return float(match.group(1))


def statements(clusters: list[Cluster]) -> dict[str, int]:
    async def counts() -> list[int]:
        return list(await asyncio.gather(*(statement_calls(c.url) for c in clusters)))

    return dict(zip((c.name for c in clusters), asyncio.run(counts()), strict=True))


def measure(
    config: Config,
    query: Query,
    servers: list[Server],
    clusters: list[Cluster],
    options: Options,
    round_no: int,
) -> Run:
    body = query.requests["atlas4d"].body
    assert body is not None
    script = lua_script(body, Path(tempfile.gettempdir()), f"atlas4d-replicas-{query.name}")
    if options.warmup:
        drive(servers, script, options.warmup)
    tiers: dict[str, Callable[[], list[int]]] = {
        "gateway": lambda: [pid for s in servers for pid in s.pids()],
        **{c.name: c.pids for c in clusters},
    }
    cpu0 = {tier: cpu_seconds(pids) for tier, pids in tiers.items()}
    gateway_pids = tiers["gateway"]()
    per_process0 = {pid: _process_cpu(pid) for pid in gateway_pids}
    wrk0, stmts0, t0 = _children_cpu(), statements(clusters), time.monotonic()
    outs = drive(servers, script, options.duration)
    elapsed = time.monotonic() - t0
    cpu = {tier: (cpu_seconds(pids) - cpu0[tier]) / elapsed for tier, pids in tiers.items()}
    cpu["wrk"] = (_children_cpu() - wrk0) / elapsed
    per_process = sorted(
        ((_process_cpu(pid) - c0) / elapsed for pid, c0 in per_process0.items()),
        reverse=True,
    )
    stmts1 = statements(clusters)
    requests = sum(int(_number(r"(\d+) requests in", out)) for out in outs)
    return Run(
        config=config.name,
        query=query.name,
        round=round_no,
        requests=requests,
        rps=sum(_number(r"Requests/sec:\s+([\d.]+)", o) for o in outs),
        # two wrks: their median latencies are alike (same load on each); p99 is the worse of the two
        p50_ms=sum(latency_ms(o, "50") for o in outs) / len(outs),
        p99_ms=max(latency_ms(o, "99") for o in outs),
        cpu=cpu,
        gateway_processes=[
            round(c, 3) for c in per_process if c >= 0.005
        ],  # the workers; idle helpers dropped
        statements={name: stmts1[name] - stmts0[name] for name in stmts1},
        load=os.getloadavg()[0],
    )


def check_ids(
    queries: list[Query],
    gateways: dict[str, list[Server]],
    primary: Cluster,
    reads: list[Cluster],
    console: Console,
) -> None:
    """Every configuration's gateways return raw SQL's ids (on the primary), in order, for every query; so
    does raw SQL on each replica."""
    for query in queries:
        expected = fetch_ids(query, "raw-sql", None, primary.url)
        for name, servers in gateways.items():
            for server in servers:
                if fetch_ids(query, "atlas4d", server, primary.url) != expected:
                    raise SystemExit(f"{query.name}: {name} returned other ids than raw SQL on the primary")
        for replica in reads:
            if fetch_ids(query, "raw-sql", None, replica.url) != expected:
                raise SystemExit(f"{query.name}: raw SQL on {replica.name} differs from the primary")
        console.print(
            f"{query.name}: {len(gateways)} configurations and {len(reads)} replicas agree with raw SQL on the "
            f"primary ({len(expected)} ids)"
        )


@contextmanager
def gateways_for(
    configs: tuple[Config, ...], primary: Cluster, reads: list[Cluster], logs: Path
) -> Iterator[dict[str, list[Server]]]:
    started: dict[str, list[Server]] = {}
    try:
        for config in configs:
            started[config.name] = start_gateways(config, primary, reads, logs)
        yield started
    finally:
        procs = [server.proc for servers in started.values() for server in servers]
        for proc in procs:  # all at once: each may take up to its graceful-shutdown timeout
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            stop(proc)


def run(options: Options, console: Console, logs: Path) -> tuple[list[Run], Replay | None]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk (python -m bench installs it)")
    queries = [q1(), q2(), q3()]
    primary = start_primary(
        console, observations=options.observations, entities=options.entities, days=options.days
    )
    results: list[Run] = []
    replay = None
    try:
        with replicas(primary, max(c.replicas for c in options.configs), console) as reads:
            with gateways_for(options.configs, primary, reads, logs) as gateways:
                check_ids(queries, gateways, primary, reads, console)
                for round_no in range(1, options.rounds + 1):
                    for query in queries:
                        shift = (round_no - 1) % len(options.configs)
                        for config in options.configs[shift:] + options.configs[:shift]:
                            m = measure(
                                config, query, gateways[config.name], [primary, *reads], options, round_no
                            )
                            results.append(m)
                            spread = ", ".join(f"{k} {v:,}" for k, v in m.statements.items())
                            cpu = ", ".join(f"{k} {v:.2f}" for k, v in m.cpu.items())
                            console.print(
                                f"round {round_no} {query.name} {config.name}: {m.rps:,.0f} req/s, p50 "
                                f"{m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms | cores: {cpu} | statements: {spread} "
                                f"| gateway processes {m.gateway_processes} | load {m.load:.1f}",
                                soft_wrap=True,
                            )
            if options.replay_rows:
                replay = replay_cost(primary, reads, options.replay_rows)
                console.print(
                    f"writes: {replay.rows:,} rows in {replay.seconds:.1f} s, replicas caught up "
                    f"{replay.caught_up_s:.2f} s after the commit; CPU-ms per 1,000 rows: "
                    + ", ".join(f"{k} {v:.1f}" for k, v in replay.cpu_ms_per_1k_rows.items()),
                    soft_wrap=True,
                )
    finally:
        primary.pg.stop()
    return results, replay


def options(argv: list[str] | None = None) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100k rows, 3 s runs, one round; prints only"
    )
    parser.add_argument("--duration", type=int, help="seconds per run (default 15)")
    parser.add_argument("--rounds", type=int, help="rounds (default 2)")
    parser.add_argument(
        "--no-gateway-pair", action="store_true", help="skip the 1 vs 2 gateway processes runs"
    )
    parser.add_argument(
        "--replay-rows", type=int, help="rows ingested to measure replay cost (default 200k; 0 skips)"
    )
    args = parser.parse_args(argv)
    configs = tuple(c for c in CONFIGS if not (args.no_gateway_pair and "gateway" in c.name))
    quick = Options(observations=100_000, duration=3, warmup=1, rounds=1, replay_rows=20_000)
    base = quick if args.quick else Options()
    chosen = Options(
        observations=base.observations,
        duration=args.duration or base.duration,
        warmup=base.warmup,
        rounds=args.rounds or base.rounds,
        configs=configs,
        replay_rows=base.replay_rows if args.replay_rows is None else args.replay_rows,
    )
    return chosen, not args.quick


def main(argv: list[str] | None = None) -> None:
    console = Console()
    install_cleanup()
    chosen, full = options(argv)
    started_load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with one_run_at_a_time(), tempfile.TemporaryDirectory(prefix="atlas4d-bench-replicas-") as tmp:
        results, replay = run(chosen, console, Path(tmp))
    section = write_section(results, replay, chosen, started_load, write=full)
    if full:  # the measured numbers and the plugged-in arithmetic of docs/scaling.md §2
        loads = [r.load for r in results]
        during = f"{min(loads):.1f}–{max(loads):.1f} during the runs, the benchmark's own processes included"
        write_docs(results, replay, f"{started_load.split()[0]} at the start, {during}")
    print(section)  # as is: the table rows unwrapped, to paste
    if not full:
        console.print("[yellow]quick run: bench/RESULTS.md left as it was[/yellow]")


if __name__ == "__main__":
    main()
