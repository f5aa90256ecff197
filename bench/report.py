# ruff: noqa: RUF001
"""The core benchmark's section of bench/RESULTS.md (between its markers; other sections are kept)."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.ingest import IngestResult
from bench.load import Measurement
from bench.micro import MicroResult

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- core-bench:start -->", "<!-- core-bench:end -->"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
DOCS_START, DOCS_END = "<!-- numbers:start -->", "<!-- numbers:end -->"
INGEST_PATH = "ingestObservations (GraphQL, 10k a call)"
BULK_HTTP = "bulk NDJSON over HTTP (1 connection)"
BULK_CLI = "atlas4d ingest FILE (one transaction)"
FLOOR = "floor: orjson + validation + COPY, 1 connection"
RAW_COPY = "floor: raw binary COPY, 1 connection"


@dataclass
class Report:
    params: dict[str, str]
    reads: dict[str, dict[str, list[Measurement]]]  # query → system → rounds
    titles: dict[str, str]
    id_counts: dict[str, int]
    ingest: dict[str, list[IngestResult]]
    micro: list[MicroResult]
    versions: dict[str, str]
    growth: dict[str, tuple[float, str]] = field(default_factory=dict)  # query → (p50 at 10M / at 1M, note)


def save_reads(reads: dict[str, dict[str, list[Measurement]]], path: Path) -> None:
    """The raw read numbers of a run, so a run at another scale can compare latencies."""
    data = {q: {s: [asdict(m) for m in runs] for s, runs in systems.items()} for q, systems in reads.items()}
    path.write_text(json.dumps({"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "reads": data}))


def latency_growth(
    reads: dict[str, dict[str, list[Measurement]]], other: Path
) -> dict[str, tuple[float, str]]:
    """Our p50 at 10M over our p50 here, for Q1 and Q3, from a saved 10M run (when there is one)."""
    if not other.exists():
        return {}
    saved = json.loads(other.read_text())
    out = {}
    for query in ("Q1", "Q3"):
        ratios = {}
        for system in ("atlas4d", "raw-sql"):
            here = reads.get(query, {}).get(system)
            there = saved["reads"].get(query, {}).get(system)
            if here and there:
                ratios[system] = _mean([m["p50_ms"] for m in there]) / _mean([m.p50_ms for m in here])
        if "atlas4d" in ratios:
            raw = f"; raw SQL {ratios['raw-sql']:.2f}×" if "raw-sql" in ratios else ""
            out[query] = (ratios["atlas4d"], f"10M run of {saved['date']}{raw}")
    return out


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "?"
    )
    mem_kb = int(
        next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    )
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "CPU": model,
        "load average at start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values)


def _rounds(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    mean = fmt.format(_mean(values))
    if len(values) < 2:
        return mean
    return f"{mean} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def _target_row(
    name: str, ours: float | None, base: float | None, goal: float, higher_is_better: bool = True
) -> str:
    if ours is None or base is None or base == 0:
        return f"| {name} | – | – | not measured |"
    ratio = ours / base
    met = ratio >= goal if higher_is_better else ratio <= goal
    if met:
        status = "**met**"
    elif higher_is_better:
        status = f"not met: {goal / ratio:.2f}× short ({ratio / goal:.0%} of the target)"
    else:
        status = f"not met: {ratio / goal:.2f}× over"
    return f"| {name} | {ratio:.2f}× | {'≥' if higher_is_better else '≤'} {goal:g}× | {status} |"


def _rps(report: Report, query: str, system: str) -> float | None:
    runs = report.reads.get(query, {}).get(system)
    return _mean([m.rps for m in runs]) if runs else None


def _ingest_rate(report: Report, name: str) -> float | None:
    runs = report.ingest.get(name)
    return _mean([r.rows_per_s for r in runs]) if runs else None


def targets(report: Report) -> list[str]:
    rows = [
        "| target | measured | goal | status |",
        "|---|---:|---:|---|",
        _target_row(
            "Q1 vs PostGraphile v5", _rps(report, "Q1", "atlas4d"), _rps(report, "Q1", "postgraphile-v5"), 5
        ),
        _target_row(
            "Q1 vs raw SQL (pgbench TPS)", _rps(report, "Q1", "atlas4d"), _rps(report, "Q1", "raw-sql"), 0.5
        ),
        _target_row(
            "Q2 vs PostGraphile v5", _rps(report, "Q2", "atlas4d"), _rps(report, "Q2", "postgraphile-v5"), 5
        ),
        _target_row(
            "Q3 vs raw SQL (pgbench TPS)", _rps(report, "Q3", "atlas4d"), _rps(report, "Q3", "raw-sql"), 0.8
        ),
        _target_row(
            "ingestObservations vs validate+COPY floor (1 connection)",
            _ingest_rate(report, INGEST_PATH),
            _ingest_rate(report, FLOOR),
            0.7,
        ),
        _target_row(
            "bulk NDJSON over HTTP vs raw COPY floor",
            _ingest_rate(report, BULK_HTTP),
            _ingest_rate(report, RAW_COPY),
            0.8,
        ),
        _target_row(
            "`atlas4d ingest FILE` vs raw COPY floor",
            _ingest_rate(report, BULK_CLI),
            _ingest_rate(report, RAW_COPY),
            0.8,
        ),
    ]
    fast = [m for m in report.micro if "stock" not in m.name]
    stock = report.micro[0] if report.micro else None
    if fast:
        best = min(fast, key=lambda m: m.us_per_object)
        met = "**met**" if best.us_per_object <= 2 else f"not met: {best.us_per_object / 2:.2f}× over"
        rows.append(
            f"| in-process µs per 8-field object ({best.name}, output byte-identical to stock) | "
            f"{best.us_per_object:.2f} µs | ≤ 2 µs | {met} |"
        )
    elif stock is not None:
        rows.append(
            f"| in-process µs per 8-field object | {stock.us_per_object:.1f} µs (stock only) | ≤ 2 µs | "
            f"not met: {stock.us_per_object / 2:.1f}× over (no fast path yet) |"
        )
    apollo = _rps(report, "Q4", "apollo-gateway")
    for system, label in (("atlas4d", "in-process"), ("atlas4d-remote", "subgraphs over HTTP")):
        ours = _rps(report, "Q4", system)
        if ours is not None and apollo:
            rows.append(
                f"| Q4 atlas4d ({label}) vs @apollo/gateway over the same subgraphs | {ours / apollo:.2f}× | "
                "no target | for comparison |"
            )
    for query in ("Q1", "Q3"):
        if query in report.growth:
            ratio, note = report.growth[query]
            status = "**met**" if ratio <= 2 else f"not met: {ratio / 2:.2f}× over"
            rows.append(f"| {query} p50 latency growth 1M → 10M ({note}) | {ratio:.2f}× | ≤ 2× | {status} |")
        else:
            rows.append(
                f"| {query} p50 latency growth 1M → 10M | – | ≤ 2× | not measured (run `--scale 10000000` first) |"
            )
    return rows


def reads_table(report: Report) -> list[str]:
    lines = [
        "| query | system | req/s | p50 ms | p99 ms | CPU: system (cores) | CPU: PostgreSQL (cores) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for query, systems in report.reads.items():
        for system, runs in systems.items():
            flagged = "; ".join(m.socket_errors for m in runs if m.socket_errors)
            if flagged:
                system = f"{system} (wrk socket errors: {flagged})"
            lines.append(
                f"| {query} {report.titles[query]} | {system} | {_rounds([m.rps for m in runs])} | "
                f"{_mean([m.p50_ms for m in runs]):.1f} | {_mean([m.p99_ms for m in runs]):.1f} | "
                f"{_mean([m.server_cores for m in runs]):.2f} | {_mean([m.postgres_cores for m in runs]):.2f} |"
            )
    return lines


def cost_table(report: Report) -> list[str]:
    """CPU per request: where each system's time goes, the reason behind the req/s ratios."""
    lines = [
        "| query | system | system ms | PostgreSQL ms | total ms | ceiling on 2 cores (req/s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    cores = os.cpu_count() or 1
    for query, systems in report.reads.items():
        for system, runs in systems.items():
            rps = _mean([m.rps for m in runs])
            if not rps:
                continue
            own = _mean([m.server_cores for m in runs]) * 1000 / rps
            pg = _mean([m.postgres_cores for m in runs]) * 1000 / rps
            lines.append(
                f"| {query} | {system} | {own:.2f} | {pg:.2f} | {own + pg:.2f} | {cores * 1000 / (own + pg):,.0f} |"
            )
    return lines


def _cost(report: Report, query: str, system: str) -> tuple[float, float] | None:
    """(system, PostgreSQL) CPU-ms per request."""
    runs = report.reads.get(query, {}).get(system)
    rps = _mean([m.rps for m in runs]) if runs else 0
    if not runs or not rps:
        return None
    return (
        _mean([m.server_cores for m in runs]) * 1000 / rps,
        _mean([m.postgres_cores for m in runs]) * 1000 / rps,
    )


READ_TARGETS = (
    ("Q1", "postgraphile-v5", 5.0),
    ("Q1", "raw-sql", 0.5),
    ("Q2", "postgraphile-v5", 5.0),
    ("Q3", "raw-sql", 0.8),
)


def shortfalls(report: Report) -> list[str]:
    """Why each unmet read target is unmet, in CPU-ms per request (see "CPU per request")."""
    lines = []
    for query, base, goal in READ_TARGETS:
        ours, theirs = _rps(report, query, "atlas4d"), _rps(report, query, base)
        cost, base_cost = _cost(report, query, "atlas4d"), _cost(report, query, base)
        if not ours or not theirs or cost is None or base_cost is None or ours / theirs >= goal:
            continue
        lines.append(
            f"- {query} vs {base}: {goal:g}× its req/s on the same cores needs a request to cost at most "
            f"{sum(base_cost) / goal:.2f} CPU-ms; ours costs {sum(cost):.2f} ({cost[0]:.2f} in our server — "
            f"HTTP, GraphQL, decoding rows, JSON — and {cost[1]:.2f} in PostgreSQL; {base} costs "
            f"{base_cost[0]:.2f} + {base_cost[1]:.2f})."
        )
    if lines:
        lines.insert(0, "Why the unmet read targets are unmet:")
        lines.insert(1, "")
    return lines


def ingest_table(report: Report) -> list[str]:
    lines = [
        "| path | rows/s | CPU: client/server (cores) | CPU: PostgreSQL (cores) |",
        "|---|---:|---:|---:|",
    ]
    for name, loads in report.ingest.items():
        lines.append(
            f"| {name} | {_rounds([r.rows_per_s for r in loads])} | {_mean([r.server_cores for r in loads]):.2f} | "
            f"{_mean([r.postgres_cores for r in loads]):.2f} |"
        )
    return lines


def section(report: Report) -> str:
    p = report.params
    lines = [
        START,
        "## Core benchmark",
        "",
        f"`make bench` (`python -m bench`), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. {p['observations']} observations, "
        f"{p['entities']} entities, {p['days']} days; wrk/pgbench at concurrency 16, {p['duration']} s per query after "
        f"a {p['warmup']} s warm-up, {p['rounds']} round(s), systems interleaved. Our server: uvicorn, "
        f"{p['workers']} workers. Numbers are the mean of the rounds (range in brackets).",
        "",
        "Every system returned the same ids before any number was taken: "
        + ", ".join(f"{q} {n:,} ids" for q, n in report.id_counts.items())
        + ".",
        "",
        "### Reads",
        "",
        *reads_table(report),
    ]
    lines += [
        "",
        "CPU is from /proc: the system's process tree (uvicorn master + workers, the Node process, or pgbench "
        "itself for raw SQL; for Q4's gateways over HTTP, the gateway plus the `atlas4d serve` whose subgraphs "
        "it calls) and the PostgreSQL cluster's processes, in CPU-seconds per second of the run "
        f"(the machine has {os.cpu_count()} cores; wrk's own share is the rest).",
        "",
        "#### CPU per request",
        "",
        "CPU-milliseconds each request cost the system and PostgreSQL (cores ÷ req/s). Every system here is "
        "bound by the machine's cores, so req/s ≈ cores ÷ total; raw SQL's total is the floor of what the "
        "query costs PostgreSQL, and a GraphQL server's own milliseconds (HTTP, planning, building the JSON) "
        "come on top on the same cores. A target of k× raw SQL's req/s therefore needs "
        "system ms + PostgreSQL ms ≤ raw total ÷ k.",
        "",
        *cost_table(report),
        "",
        "### Ingest (Q5)",
        "",
        f"{p['ingest_rows']} observations (2,000 entities, no track ids) into an empty, indexed "
        "`atlas4d.observations_core` in a separate database, emptied and checkpointed before each path.",
        "",
        *ingest_table(report),
    ]
    lines += [
        "",
        "### In-process execution",
        "",
        "| executor | µs per 8-field object | µs per field |",
        "|---|---:|---:|",
    ]
    lines += [f"| {m.name} | {m.us_per_object:.2f} | {m.us_per_field:.2f} |" for m in report.micro]
    lines += ["", "### Targets (issue 7)", "", *targets(report), "", *shortfalls(report)]
    lines += ["", "### Machine and versions", ""]
    lines += [f"- {k}: {v}" for k, v in report.versions.items()]
    lines += ["", END]
    return "\n".join(lines) + "\n"


def _replace_between(text: str, start: str, end: str, block: str) -> str:
    if start in text and end in text:
        before, rest = text.split(start, 1)
        return before + block.rstrip("\n") + rest.split(end, 1)[1]
    return text.rstrip("\n") + "\n\n" + block


def docs_numbers(report: Report) -> str:
    """The tables docs/performance.md copies from RESULTS.md."""
    p = report.params
    lines = [
        DOCS_START,
        f"{datetime.now(UTC):%Y-%m-%d}, {p['observations']} observations, concurrency 16, {p['rounds']} round(s) of "
        f"{p['duration']} s; CPU and versions in bench/RESULTS.md.",
        "",
        *reads_table(report),
        "",
        f"Ingest of {p['ingest_rows']} observations:",
        "",
        *ingest_table(report),
        "",
        *targets(report),
        DOCS_END,
    ]
    return "\n".join(lines) + "\n"


def write(report: Report, path: Path = RESULTS, docs: Path = DOCS) -> str:
    block = section(report)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    path.write_text(_replace_between(text, START, END, block))
    if docs.exists():
        docs.write_text(_replace_between(docs.read_text(), DOCS_START, DOCS_END, docs_numbers(report)))
    return block
