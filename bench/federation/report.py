"""The federation section of bench/RESULTS.md: one row per system, then the issue's targets."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.load import Measurement

RESULTS = Path(__file__).resolve().parents[1] / "RESULTS.md"
START, END = "<!-- federation:start -->", "<!-- federation:end -->"
LABELS = {
    "atlas4d": "atlas4d gateway (1 process)",
    "atlas4d-workers": "atlas4d gateway --workers {workers}",
    "apollo-gateway": "@apollo/gateway",
    "hive-gateway": "Hive Gateway (JS planner)",
    "hive-router-runtime": "Hive Gateway --hive-router-runtime",
    "floor": "floor: two fetches + merge (our HTTP client)",
    "floor-aiohttp": "floor, aiohttp",
    "floor-httpx": "floor, httpx",
    "floor-raw": "floor, bare asyncio client",
    "floor-aiosonic": "floor, aiosonic",
    "floor-pyreqwest": "floor, pyreqwest",
}
# (ours, peer, at least): the targets over remote subgraphs, one process each
TARGETS = (
    ("atlas4d", "apollo-gateway", 2.0),
    ("atlas4d", "hive-router-runtime", 1.0),
    ("atlas4d", "floor", 1 / 1.3),  # planning + execution add at most ~30% to the floor
)


def cpu_ms(m: Measurement) -> float:
    return 1000 * m.server_cores / m.rps if m.rps else float("nan")


def same_round(results: dict[str, list[Measurement]], a: str, b: str, *, cpu: bool = False) -> float | None:
    """Median over rounds of a's req/s over b's in the same round (or b's CPU-ms per request over a's)."""
    if a not in results or b not in results:
        return None
    pairs = zip(results[a], results[b], strict=True)
    ratios = [cpu_ms(y) / cpu_ms(x) if cpu else x.rps / y.rps for x, y in pairs]
    return statistics.median(ratios)


def write_results(
    results: dict[str, list[Measurement]],
    *,
    options: Any,
    query: str,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
    write: bool,
) -> str:
    rounds = len(next(iter(results.values())))
    before, after = load
    lines = [
        START,
        "## Federation gateway over remote subgraphs",
        "",
        f"`python -m bench.federation`: `{query}` — 100 `Item` entities from `products`, `inStock` from",
        "`inventory` by one `_entities` fetch; both subgraphs graphql-yoga + @apollo/subgraph (Node 22, as are the",
        "Node gateways), so the gateway's",
        f"own cost shows. wrk, 1 thread, 16 connections; {rounds} interleaved rounds of {options.duration} s (order",
        f"rotated each round) after a {options.warmup} s warm-up per run; {os.cpu_count()} cores shared by the",
        f"gateway, both subgraphs and wrk (`{time.strftime('%Y-%m-%d %H:%M')}`). Load average (1/5/15 min) before:",
        f"{before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}"
        " — the machine is shared, so compare within a round and per CPU-ms.",
        "Every system's answer was checked equal to the one computed from the subgraphs' data, before and after.",
        "",
        "| system | req/s (median round) | req/s per round | p50 ms | p99 ms | gateway CPU-ms/req | "
        "subgraphs CPU-ms/req | vs Apollo, same round | vs Apollo, CPU per req |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        median = sorted(runs, key=lambda run: run.rps)[len(runs) // 2]
        per_round = " / ".join(f"{r.rps:,.0f}" for r in runs)
        gateway_ms = statistics.median(cpu_ms(r) for r in runs)
        subgraph_ms = statistics.median(1000 * r.postgres_cores / r.rps for r in runs)
        vs = same_round(results, name, "apollo-gateway")
        vs_cpu = same_round(results, name, "apollo-gateway", cpu=True)
        label = LABELS[name].format(workers=options.workers)
        lines.append(
            f"| {label} | {median.rps:,.0f} | {per_round} | {median.p50_ms:.1f} | {median.p99_ms:.1f} | "
            f"{gateway_ms:.2f} | {subgraph_ms:.2f} | {_x(vs)} | {_x(vs_cpu)} |"
        )
    lines += [
        "",
        "CPU-ms/req: CPU time of the system's process tree (all workers) per answered request; `vs Apollo, CPU per",
        "req` is Apollo's CPU-ms per request over the system's (above 1: cheaper than Apollo per request).",
        "",
        "| target (one process each) | req/s, same round | CPU per request | met |",
        "|---|---:|---:|---|",
    ]
    for ours, peer, least in TARGETS:
        ratio, cpu_ratio = same_round(results, ours, peer), same_round(results, ours, peer, cpu=True)
        if ratio is None or cpu_ratio is None:
            continue
        label = f"{LABELS[ours]} ≥ {least:.2f}x {LABELS[peer]}"
        # both: on a saturated machine same-round req/s are capped by the subgraphs and wrk, CPU per request is not
        short = [f"{what} {value / least:.0%} of the target" for what, value in (("req/s", ratio), ("CPU", cpu_ratio))
                 if value < least]  # fmt: skip
        met = "yes" if not short else f"no ({', '.join(short)})"
        lines.append(f"| {label} | {_x(ratio)} | {_x(cpu_ratio)} | {met} |")
    lines += ["", END]
    section = "\n".join(lines)
    if write:
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        if START in text and END in text:
            text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        RESULTS.write_text(text)
    return section


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"
