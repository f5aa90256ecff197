# ruff: noqa: RUF001
"""The read-replica benchmark's section of bench/RESULTS.md (between its markers; other sections are kept), and
its raw runs in bench/out/replicas.json."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bench.replica_replay import Replay
from bench.report import RESULTS, _replace_between

START, END = "<!-- replicas-bench:start -->", "<!-- replicas-bench:end -->"
OUT = Path(__file__).resolve().parent / "out"
DATABASES = ("primary", "replica 1", "replica 2")


@dataclass(frozen=True)
class Run:
    config: str
    query: str
    round: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu: dict[str, float]  # tier (gateway, primary, replica N, wrk) → cores (CPU-seconds per second)
    statements: dict[str, int]  # cluster → statements on the bench tables during the run
    load: float  # 1-minute load average at the end of the run
    gateway_processes: list[float]  # cores of each busy gateway process (uvicorn workers), largest first


class Params(Protocol):
    @property
    def observations(self) -> int: ...
    @property
    def entities(self) -> int: ...
    @property
    def days(self) -> int: ...
    @property
    def duration(self) -> int: ...
    @property
    def warmup(self) -> int: ...
    @property
    def rounds(self) -> int: ...


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _ms(runs: list[Run], tier: str) -> float:
    """CPU-ms per request of `tier`, the mean over the rounds."""
    return _mean([r.cpu[tier] / r.rps * 1000 for r in runs if tier in r.cpu])


def _db_ms(runs: list[Run], names: Sequence[str]) -> float:
    return _mean([sum(r.cpu.get(n, 0.0) for n in names) / r.rps * 1000 for r in runs])


def grouped(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    out: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        out.setdefault((r.query, r.config), []).append(r)
    return out


def _cell(value: float) -> str:
    return "–" if value != value else f"{value:.2f}"  # NaN: the tier is not in this configuration


def tables(runs: list[Run]) -> list[str]:
    groups = grouped(runs)
    replicas_seen = [d for d in DATABASES[1:] if any(d in r.cpu for r in runs)]
    lines = [
        "| query | configuration | req/s | p50 ms | p99 ms | gateway processes' cores, busiest first |",
        "|---|---|---:|---:|---:|---|",
    ]
    for (query, config), rs in groups.items():
        rps = [r.rps for r in rs]
        spread = f" ({min(rps):,.0f}–{max(rps):,.0f})" if len(rs) > 1 else ""
        width = min(len(r.gateway_processes) for r in rs)
        busy = " / ".join(f"{_mean([r.gateway_processes[k] for r in rs]):.2f}" for k in range(width))
        lines.append(
            f"| {query} | {config} | {_mean(rps):,.0f}{spread} | {_mean([r.p50_ms for r in rs]):.1f} | "
            f"{_mean([r.p99_ms for r in rs]):.1f} | {busy} |"
        )
    header = " | ".join(["gateway", "primary", *replicas_seen, "PostgreSQL total", "wrk"])
    lines += [
        "",
        "CPU-milliseconds per request, by tier (each tier's CPU-seconds per second ÷ req/s, mean of the rounds; "
        "every cluster is measured in every configuration, an idle replica included):",
        "",
        f"| query | configuration | {header} |",
        "|---|---|" + "---:|" * (len(replicas_seen) + 4),
    ]
    for (query, config), rs in groups.items():
        cells = [_ms(rs, t) for t in ("gateway", "primary", *replicas_seen)]
        cells += [_db_ms(rs, DATABASES), _ms(rs, "wrk")]
        lines.append(f"| {query} | {config} | " + " | ".join(_cell(c) for c in cells) + " |")
    lines += [
        "",
        "How reads spread: statements each cluster executed on the bench tables during the runs "
        "(pg_stat_statements; the read router's freshness checks do not count), as shares:",
        "",
        f"| query | configuration | statements per request | primary | {' | '.join(replicas_seen)} |",
        "|---|---|---:|" + "---:|" * (len(replicas_seen) + 1),
    ]
    for (query, config), rs in groups.items():
        totals = {d: sum(r.statements.get(d, 0) for r in rs) for d in DATABASES}
        total = sum(totals.values())
        per_request = total / max(1, sum(r.requests for r in rs))
        shares = [f"{totals[d] / total:.1%}" if total else "–" for d in ("primary", *replicas_seen)]
        lines.append(f"| {query} | {config} | {per_request:.2f} | " + " | ".join(shares) + " |")
    return lines


def capacity(runs: list[Run]) -> list[str]:
    """Per-core capacity of each tier and the cost of routing, from the 1- and 2-replica configurations."""
    groups = grouped(runs)
    lines = [
        "| query | gateway ms/req, reads on the primary | gateway ms/req, 1 replica | routing cost ms/req | "
        "gateway ms/req, 2 replicas | PostgreSQL ms/req on the replicas, 2 replicas | primary ms/req, 2 replicas | "
        "req/s per gateway core | req/s per replica core | gateway cores per replica core |",
        "|---|" + "---:|" * 9,
    ]
    for query in sorted({r.query for r in runs}):
        base, one, two = (groups.get((query, c), []) for c in ("primary only", "1 replica", "2 replicas"))
        if not (base and one and two):
            continue
        g0, g1, g2 = _ms(base, "gateway"), _ms(one, "gateway"), _ms(two, "gateway")
        db = _db_ms(two, DATABASES[1:])
        lines.append(
            f"| {query} | {g0:.2f} | {g1:.2f} | {g1 - g0:+.2f} | {g2:.2f} | {db:.2f} | {_ms(two, 'primary'):.2f} | "
            f"{1000 / g2:,.0f} | {1000 / db:,.0f} | {g2 / db:.2f} |"
        )
    return lines


def writes(replay: Replay | None) -> list[str]:
    if replay is None:
        return []
    cpu = replay.cpu_ms_per_1k_rows
    replicas = [k for k in cpu if k != "primary"]
    return [
        "",
        f"What writes cost each replica: {replay.rows:,} observations ingested into a scratch database on the "
        f"primary (the demo seeder's binary COPY, entities and tracks included) in {replay.seconds:.1f} s "
        f"({replay.rows / replay.seconds:,.0f} rows/s, {replay.wal_bytes / replay.rows:,.0f} bytes of WAL a row); "
        f"every replica had replayed it {replay.caught_up_s:.2f} s after the commit. CPU-ms per 1,000 rows "
        f"(the client's own CPU not included): primary {cpu['primary']:.1f}, "
        + ", ".join(f"{k} {cpu[k]:.1f}" for k in replicas)
        + ". Every replica replays every write: this is paid once per replica, whatever the number of replicas.",
    ]


def section(runs: list[Run], replay: Replay | None, options: Params, started_load: str) -> str:
    ended = " ".join(f"{x:.2f}" for x in os.getloadavg())
    loads = [r.load for r in runs]
    lines = [
        START,
        f"## Read replicas (`python -m bench.replicas`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        f"{started_load} at start, {ended} at the end, {min(loads):.1f}–{max(loads):.1f} during the runs, "
        f"on {os.cpu_count()} cores)",
        "",
        f"A private primary holding the core benchmark's database ({options.observations:,} observations, "
        f"{options.entities:,} entities, {options.days} days) and two hot standbys cloned from it with "
        "`pg_basebackup -R -X stream -c fast`, all on this machine; `atlas4d serve` (core only, pool max 16) with "
        "`ATLAS4D_READ_DATABASE_URLS` naming 0, 1 or 2 of them. wrk at 16 connections "
        f"(8 + 8 for two gateways), {options.duration} s per run after {options.warmup} s of warm-up, "
        f"{options.rounds} round(s), configurations interleaved; numbers are the mean of the rounds (req/s range in "
        "brackets). With two gateways, p50 is the mean of the two wrks' and p99 the worse. Every configuration "
        "returned the same ids as raw SQL on the primary before any number was taken.",
        "",
        *tables(runs),
        "",
        "Per-core capacity of each tier (from the runs above; the arithmetic for N machines is in "
        "docs/scaling.md):",
        "",
        *capacity(runs),
        *writes(replay),
        "",
        "Everything shares 2 cores, so a second replica cannot add throughput here: the gateway and both "
        "replicas compete for the same cores. What carries to separate machines is each tier's CPU per request.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(
    runs: list[Run], replay: Replay | None, options: Params, started_load: str, *, write: bool
) -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    raw: dict[str, Any] = {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "runs": [asdict(r) for r in runs],
        "replay": asdict(replay) if replay is not None else None,
    }
    (OUT / "replicas.json").write_text(json.dumps(raw, indent=1))
    block = section(runs, replay, options, started_load)
    if write:
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        RESULTS.write_text(_replace_between(text, START, END, block))
    return block
