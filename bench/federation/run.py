"""Benchmark: our gateway (subgraphs in-process, and all remote) against @apollo/gateway on the same two
subgraphs, with wrk. Writes the federation section of bench/RESULTS.md.

    .venv/bin/python bench/federation/run.py [--rounds 3] [--duration 5] [--connections 8]

Needs wrk (`apt-get install -y wrk`) and the npm peers (`npm ci --prefix tests/js`). Every server binds
127.0.0.1 and is stopped at the end. One process per server (no workers), so the numbers compare one core's worth
of each gateway; the machine's other core runs wrk and the subgraphs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
JS = ROOT / "tests" / "js"
RESULTS = ROOT / "bench" / "RESULTS.md"
QUERY = "{ items(first: 100) { id name price category inStock warehouse } }"
START, END = "<!-- federation:start -->", "<!-- federation:end -->"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uvicorn(app: str, port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--app-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=ROOT)


def wait(url: str, body: dict[str, object] | None = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            response = httpx.post(url, json=body) if body else httpx.get(url)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(HERE / "post.lua"), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": percentile("50"),
        "p99": percentile("99"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from atlas4d.federation.compose import SubgraphSource, compose
    from atlas4d.federation.subgraph import subgraph_sdl

    sys.path.insert(0, str(HERE))
    from subgraphs import catalog_schema, stock_schema

    processes: list[subprocess.Popen[bytes]] = []
    load = os.getloadavg()
    try:
        ports = {"catalog": free_port(), "stock": free_port()}
        for name in ports:
            processes.append(uvicorn(f"subgraphs:{name}_app", ports[name]))
        urls = {n: f"http://127.0.0.1:{p}/graphql" for n, p in ports.items()}
        for url in urls.values():
            wait(url, {"query": "{ __typename }"})
        sdl = compose(
            [
                SubgraphSource("catalog", urls["catalog"], subgraph_sdl(catalog_schema())),
                SubgraphSource("stock", urls["stock"], subgraph_sdl(stock_schema())),
            ]
        )
        folder = Path(tempfile.mkdtemp())
        (folder / "supergraph.graphql").write_text(sdl)
        urls_by_label: dict[str, str] = {}
        expected = None
        for label, mode in (
            ("atlas4d, subgraphs in-process", "local"),
            ("atlas4d, subgraphs over HTTP", "remote"),
            ("@apollo/gateway, subgraphs over HTTP", "apollo"),
        ):
            port = free_port()
            if mode == "apollo":
                process = subprocess.Popen(
                    ["node", str(JS / "gateway.js"), str(folder / "supergraph.graphql"), str(port)],
                    cwd=JS,
                    stdout=subprocess.DEVNULL,
                )
            else:
                process = uvicorn(
                    "gateway_app:app",
                    port,
                    {"BENCH_SUPERGRAPH": str(folder / "supergraph.graphql"), "BENCH_MODE": mode},
                )
            processes.append(process)
            url = f"http://127.0.0.1:{port}/graphql"
            wait(url, {"query": "{ __typename }"})
            answer = httpx.post(url, json={"query": QUERY}).json()
            assert len(answer["data"]["items"]) == 100 and "errors" not in answer, answer
            expected = expected or answer
            assert answer == expected, "gateways disagree"
            wrk(url, 2, args.connections)  # warm-up (JIT, caches, connection pools)
            urls_by_label[label] = url
        # Rounds interleave the gateways so that a change in the machine's load hits all of them alike;
        # each row reports its median round (by req/s).
        rounds: dict[str, list[dict[str, float]]] = {label: [] for label in urls_by_label}
        for _ in range(args.rounds):
            for label, url in urls_by_label.items():
                rounds[label].append(wrk(url, args.duration, args.connections))
                print(label, json.dumps(rounds[label][-1]))
        write_results(rounds, args.duration, args.connections, load)
    finally:
        for process in processes:
            process.terminate()
            process.wait()


def write_results(
    rounds: dict[str, list[dict[str, float]]],
    duration: int,
    connections: int,
    load: tuple[float, float, float],
) -> None:
    """One row per gateway: the median round's numbers, each round's req/s, and the median over rounds of its
    req/s relative to Apollo's in the same round (the machine is shared, so only same-round ratios compare)."""
    apollo_label = "@apollo/gateway, subgraphs over HTTP"
    count = len(rounds[apollo_label])
    lines = [
        START,
        "## Federation gateway",
        "",
        f"`bench/federation/run.py`: `{QUERY}` — 100 `Item` entities from `catalog`, two fields from `stock` by",
        f"`_entities`; wrk, 1 thread, {connections} connections; {count} rounds of {duration} s with the gateways",
        "interleaved in each round, after a 2 s warm-up; one process per gateway and subgraph on",
        f"{os.cpu_count()} cores (`{time.strftime('%Y-%m-%d %H:%M')}`). Load average when the run started: "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; the machine is shared with other work, so rounds vary: compare",
        "within a round (the last column is the median of the per-round ratios).",
        "",
        "| gateway | req/s (median round) | p50 ms | p99 ms | req/s per round | vs Apollo, same round (median) |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for label, runs in rounds.items():
        median = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
        ratios = sorted(r["rps"] / a["rps"] for r, a in zip(runs, rounds[apollo_label], strict=True))
        per_round = " / ".join(f"{r['rps']:.0f}" for r in runs)
        lines.append(
            f"| {label} | {median['rps']:.0f} | {median['p50']:.1f} | {median['p99']:.1f} | {per_round} | "
            f"{ratios[len(ratios) // 2]:.2f}x |"
        )
    lines += ["", END]
    section = "\n".join(lines)
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
