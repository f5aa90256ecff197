"""The GraphQL systems under test, each on a free loopback port: our server (uvicorn, workers = cores) and
PostGraphile v5 and v4 (one Node process each, as they ship), all on the same database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from bench.prepare import JS, node_binary
from bench.procs import free_port, process_tree, start, wait_http

ROOT = Path(__file__).resolve().parents[1]

PROBE: dict[str, object] = {"query": "{ __typename }"}


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    behind: Server | None = None  # the subgraph server a remote gateway calls: its CPU counts as the system's

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) + (self.behind.pids() if self.behind else [])


def start_atlas4d(
    dsn: str,
    logs: Path,
    *,
    workers: int | None = None,
    name: str = "atlas4d",
    modules: str = "none",
    settings: dict[str, str] | None = None,
) -> Server:
    """`atlas4d serve`: the gateway over core and `modules` in-process, and each subgraph at
    /subgraphs/NAME/graphql."""
    port = free_port()
    env = {
        "ATLAS4D_DATABASE_URL": dsn,
        "ATLAS4D_HOST": "127.0.0.1",
        "ATLAS4D_PORT": str(port),
        "ATLAS4D_WORKERS": str(workers or os.cpu_count() or 1),
        "ATLAS4D_MODULES": modules,
        "ATLAS4D_GRAPHIQL": "false",
        "ATLAS4D_POOL_MAX_SIZE": "16",
        **(settings or {}),  # more ATLAS4D_* variables
    }
    proc = start([sys.executable, "-m", "atlas4d", "serve"], env=env, cwd=ROOT, log=logs / f"{name}.log")
    url = f"http://127.0.0.1:{port}/graphql"
    wait_http(url, proc, PROBE)
    return Server(name, url, proc)


def start_gateways(subgraphs: Server, module: str, logs: Path, wanted: Collection[str]) -> dict[str, Server]:
    """Of our gateway (`atlas4d-remote`: `atlas4d gateway`) and @apollo/gateway 2 (`apollo-gateway`), those
    `wanted`, over one supergraph whose subgraphs (core and `module`) are served by `subgraphs`; one process
    each, as both ship by default."""
    base = subgraphs.url.rsplit("/graphql", 1)[0]
    supergraph = logs / f"supergraph-{module}.graphql"
    compose = [sys.executable, "-m", "atlas4d", "compose", "--module", module, "--base-url", base]
    subprocess.run([*compose, "-o", str(supergraph)], check=True, cwd=ROOT, capture_output=True)
    out = {}
    if "atlas4d-remote" in wanted:
        port = free_port()
        ours = [
            sys.executable,
            "-m",
            "atlas4d",
            "gateway",
            "--supergraph",
            str(supergraph),
            "--port",
            str(port),
        ]
        proc = start([*ours, "--no-introspection"], env={}, cwd=ROOT, log=logs / "atlas4d-gateway.log")
        out["atlas4d-remote"] = Server("atlas4d-remote", f"http://127.0.0.1:{port}/graphql", proc, subgraphs)
    if "apollo-gateway" in wanted:
        port = free_port()
        apollo = [str(node_binary()), str(ROOT / "tests" / "js" / "gateway.js"), str(supergraph), str(port)]
        proc = start(apollo, env={"NODE_ENV": "production"}, cwd=ROOT, log=logs / "apollo-gateway.log")
        out["apollo-gateway"] = Server("apollo-gateway", f"http://127.0.0.1:{port}/graphql", proc, subgraphs)
    for server in out.values():
        wait_http(server.url, server.proc, PROBE)
    return out


def start_postgraphile(version: str, dsn: str, logs: Path) -> Server:
    port = free_port()
    folder = JS / version
    script = "server.mjs" if version == "v5" else "server.js"
    env = {"DATABASE_URL": dsn, "PORT": str(port), "NODE_ENV": "production"}
    proc = start([str(node_binary()), script], env=env, cwd=folder, log=logs / f"postgraphile-{version}.log")
    url = f"http://127.0.0.1:{port}/graphql"
    wait_http(url, proc, PROBE)
    return Server(f"postgraphile-{version}", url, proc)


def versions(dsn: str) -> dict[str, str]:
    """Every version the results depend on."""
    from importlib.metadata import version

    import asyncpg
    import graphql
    import strawberry  # noqa: F401  (version from metadata)
    import uvicorn

    import atlas4d

    def npm_version(folder: Path, package: str) -> str:
        manifest = folder / "node_modules" / package / "package.json"
        import json

        return str(json.loads(manifest.read_text())["version"])

    def command(*args: str) -> str:
        try:
            done = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
        except OSError:
            return "missing"
        return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"

    import asyncio

    async def server_versions() -> tuple[str, str]:
        conn = await asyncpg.connect(dsn)
        try:
            pg = await conn.fetchval("SHOW server_version")
            postgis = await conn.fetchval("SELECT postgis_lib_version()")
            return str(pg), str(postgis)
        finally:
            await conn.close()

    pg, postgis = asyncio.run(server_versions())
    return {
        "atlas4d": atlas4d.__version__,
        "python": sys.version.split()[0],
        "strawberry-graphql": version("strawberry-graphql"),
        "graphql-core": graphql.__version__,
        "uvicorn": uvicorn.__version__,
        "asyncpg": asyncpg.__version__,
        "orjson": version("orjson"),
        "PostgreSQL": pg,
        "PostGIS": postgis,
        "node (peers)": command(str(node_binary()), "--version"),
        "postgraphile v5": npm_version(JS / "v5", "postgraphile"),
        "postgraphile v4": npm_version(JS / "v4", "postgraphile"),
        "@graphile/postgis": npm_version(JS / "v4", "@graphile/postgis"),
        "postgraphile-plugin-connection-filter": npm_version(
            JS / "v4", "postgraphile-plugin-connection-filter"
        ),
        "postgraphile-plugin-connection-filter-postgis": npm_version(
            JS / "v4", "postgraphile-plugin-connection-filter-postgis"
        ),
        "@apollo/gateway": npm_version(ROOT / "tests" / "js", "@apollo/gateway"),
        "wrk": command("wrk", "-v"),
        "pgbench": command("pgbench", "--version"),
    }
