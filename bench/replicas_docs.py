# ruff: noqa: RUF001
"""The measured numbers and the plugged-in arithmetic of docs/scaling.md §2 (between their markers), from a
`python -m bench.replicas` run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.replica_replay import Replay
from bench.replicas_report import DATABASES, Run, _db_ms, _mean, _ms, grouped
from bench.report import _replace_between

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
NUMBERS = ("<!-- replicas-numbers:start -->", "<!-- replicas-numbers:end -->")
ARITHMETIC = ("<!-- replicas-arithmetic:start -->", "<!-- replicas-arithmetic:end -->")
QUERIES = ("Q1", "Q2", "Q3")
# the example deployment the arithmetic is worked for
UTILISATION, REPLICAS, CORES, INGEST = 0.7, 3, 8, 10_000


def numbers(runs: list[Run], replay: Replay | None, loads: str) -> str:
    g = grouped(runs)

    def row(title: str, cell: Callable[[str], str]) -> str:
        return f"| {title} | " + " | ".join(cell(q) for q in QUERIES) + " |"

    def rps(query: str, config: str) -> float:
        return _mean([r.rps for r in g.get((query, config), [])])

    def shares(query: str) -> str:
        rs = g.get((query, "2 replicas"), [])
        totals = [sum(r.statements.get(d, 0) for r in rs) for d in DATABASES]
        total = sum(totals) or 1
        return " / ".join(f"{t / total:.1%}" for t in totals)

    def routed(query: str) -> str:
        base, one = _ms(g[(query, "primary only")], "gateway"), _ms(g[(query, "1 replica")], "gateway")
        return f"{one:.2f} ({one - base:+.2f})"

    lines = [
        NUMBERS[0],
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on the 2 cores (load average {loads}):",
        "",
        "| | " + " | ".join(QUERIES) + " |",
        "|---|" + "---:|" * len(QUERIES),
        row("gateway CPU-ms per request, reads on the primary", lambda q: f"{_ms(g[(q, 'primary only')], 'gateway'):.2f}"),
        row("gateway CPU-ms per request, 1 replica (routing cost: the difference)", routed),
        row("PostgreSQL CPU-ms per request, reads on the primary", lambda q: f"{_ms(g[(q, 'primary only')], 'primary'):.2f}"),
        row("PostgreSQL CPU-ms per request on the replicas, 2 replicas", lambda q: f"{_db_ms(g[(q, '2 replicas')], DATABASES[1:]):.2f}"),
        row("primary CPU-ms per request while 2 replicas serve", lambda q: f"{_ms(g[(q, '2 replicas')], 'primary'):.2f}"),
        row("statements on primary / replica 1 / replica 2, 2 replicas", shares),
        row("req/s: primary only / 1 replica / 2 replicas", lambda q: " / ".join(
            f"{rps(q, c):,.0f}" for c in ("primary only", "1 replica", "2 replicas"))),
    ]  # fmt: skip
    pair = ("1 gateway × 1 worker, 1 replica", "2 gateways × 1 worker, 1 replica")
    if all((q, c) in g for q in QUERIES for c in pair):
        lines.append(
            row("req/s: 1 vs 2 gateway processes (1 worker each), 1 replica", lambda q: " / ".join(
                f"{rps(q, c):,.0f}" for c in pair))
        )  # fmt: skip
    if replay is not None:
        cpu = replay.cpu_ms_per_1k_rows
        each = " / ".join(f"{cpu[d]:.1f}" for d in DATABASES[1:] if d in cpu)
        lines += [
            "",
            f"Writes: {replay.rows:,} observations ingested on the primary in {replay.seconds:.1f} s cost it "
            f"{cpu['primary']:.1f} CPU-ms per 1,000 rows, and each replica {each} to replay; the replicas had "
            f"replayed the last of them {replay.caught_up_s:.2f} s after the commit.",
        ]
    lines.append(NUMBERS[1])
    return "\n".join(lines) + "\n"


def arithmetic(runs: list[Run], replay: Replay | None) -> str:
    g = grouped(runs)
    gw = {q: _ms(g[(q, "2 replicas")], "gateway") for q in QUERIES}
    db = {q: _db_ms(g[(q, "2 replicas")], DATABASES[1:]) for q in QUERIES}
    w = replay.cpu_ms_per_1k_rows["replica 1"] if replay else 0.0
    p = replay.cpu_ms_per_1k_rows["primary"] if replay else float("nan")
    budget = 1000 * UTILISATION * CORES
    replay_ms = INGEST * w / 1000
    lines = [
        ARITHMETIC[0],
        f"Plugged in with the numbers above (2-replica runs; w = {w:.1f}, p = {p:.1f}), *u* = {UTILISATION}, "
        f"{REPLICAS} replicas × {CORES} cores and {INGEST:,} rows/s of ingest — each replica has "
        f"`1000 · {UTILISATION} · {CORES} = {budget:,.0f}` CPU-ms/s, of which replay takes "
        f"`{INGEST:,} · {w:.1f} / 1000 = {replay_ms:,.0f}`:",
        "",
        "| | d (replica ms/req) | g (gateway ms/req) | X_db = r · (budget − replay) / d | gateway cores G = X_db · g / (1000 · u) | gateway cores per replica core |",
        "|---|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for q in QUERIES:
        x = REPLICAS * (budget - replay_ms) / db[q]
        cores = x * gw[q] / (1000 * UTILISATION)
        lines.append(
            f"| {q} | {db[q]:.2f} | {gw[q]:.2f} | `{REPLICAS} · ({budget:,.0f} − {replay_ms:,.0f}) / {db[q]:.2f}` ≈ "
            f"**{x:,.0f} req/s** | `{x:,.0f} · {gw[q]:.2f} / {1000 * UTILISATION:,.0f}` ≈ **{cores:,.0f}** | "
            f"{gw[q] / db[q]:.2f} |"
        )
    if replay is not None:
        i_max = UTILISATION * CORES * 1e6 / p
        lines += [
            "",
            f"The primary ({CORES} cores) would ingest up to `{UTILISATION} · {CORES} · 10⁶ / {p:.1f}` ≈ "
            f"{i_max:,.0f} rows/s of its own CPU (before client, index and WAL I/O limits); at {INGEST:,} rows/s "
            f"it spends {INGEST * p / 1e6:.2f} cores on it, and each replica {INGEST * w / 1e6:.3f}.",
        ]
    lines.append(ARITHMETIC[1])
    return "\n".join(lines) + "\n"


def write_docs(runs: list[Run], replay: Replay | None, loads: str, path: Path = DOCS) -> None:
    text = path.read_text()
    if NUMBERS[0] in text:
        text = _replace_between(text, *NUMBERS, numbers(runs, replay, loads))
    if ARITHMETIC[0] in text:
        text = _replace_between(text, *ARITHMETIC, arithmetic(runs, replay))
    path.write_text(text)
