"""Subscriptions through `atlas4d gateway`: what the gateway adds per event (`python -m bench.gateway_subscriptions`).

A JS subgraph (tests/js/alerts-subgraph.js: @apollo/subgraph + graphql-ws) owns `alertRaised`; each event names a
core entity. `atlas4d gateway` runs over it and an `atlas4d serve --subgraph core` process. In each phase the JS
subgraph emits EVENTS events at RATE/s (message = emit time) and CLIENTS graphql-transport-ws clients receive them:

- floor: the clients subscribe at the JS subgraph itself (no gateway, no entity fetch);
- gateway, identical: through the gateway, `entity { id kind name }` from core by `_entities` for each event; the
  clients' subscriptions are identical, so they share one upstream subscription (deduplication);
- gateway, distinct: the same, each client with its own operation (an alias of its own): CLIENTS upstream
  subscriptions and CLIENTS `_entities` per event.

Reported per phase: emit → client latency p50/p99 (ms; clocks of one machine), events received, and the CPU the
gateway and core processes used per emitted event. Prints; record the load average with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import websockets

from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.settings import Settings
from bench.prepare import scratch_database
from bench.procs import cpu_seconds, free_port, install_cleanup, process_tree, start, stop, wait_http

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "tests" / "js"
ATLAS4D = str(Path(sys.executable).with_name("atlas4d"))


class Node:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(JS / "alerts-subgraph.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=JS,
        )
        assert self.proc.stdout is not None
        self.url: str = json.loads(self.proc.stdout.readline())["url"]

    def command(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def _client(url: str, query: str, count: int, latencies: list[float], ready: asyncio.Event) -> None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send('{"type":"connection_init"}')
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}).decode())
        await ws.send('{"type":"ping"}')
        assert orjson.loads(await ws.recv())["type"] == "pong"
        ready.set()
        got = 0
        while got < count:
            try:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
            except TimeoutError:
                return
            if message.get("type") != "next":
                continue
            now = time.time() * 1000
            alert = next(iter(message["payload"]["data"].values()))
            latencies.append(now - float(alert["message"]))
            got += 1


async def phase(
    name: str, url: str, queries: list[str], node: Node, events: int, rate: int, entity: str, pids: Any
) -> dict[str, Any]:
    latencies: list[float] = []
    readies = [asyncio.Event() for _ in queries]
    tasks = [
        asyncio.create_task(_client(url, q, events, latencies, r))
        for q, r in zip(queries, readies, strict=True)
    ]
    await asyncio.gather(*(r.wait() for r in readies))
    cpu0 = {k: cpu_seconds(v) for k, v in pids.items()}
    started = time.monotonic()
    node.command(f"burst {events} {rate} {entity}")
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    cpu = {k: cpu_seconds(v) - cpu0[k] for k, v in pids.items()}
    latencies.sort()
    return {
        "phase": name,
        "clients": len(queries),
        "received": len(latencies),
        "expected": events * len(queries),
        "p50_ms": latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else None,
        "mean_ms": statistics.fmean(latencies) if latencies else None,
        "seconds": round(elapsed, 1),
        **{f"{k}_cpu_us_per_event": round(v / events * 1e6) for k, v in cpu.items()},
    }


async def run(clients: int, events: int, rate: int) -> list[dict[str, Any]]:
    install_cleanup()
    settings = Settings()
    admin, db_url = await scratch_database(settings, "atlas4d_bench_gwsubs")
    node = Node()
    procs = []
    try:
        entity = uuid.uuid4()
        conn = await asyncpg.connect(db_url)
        await conn.execute(
            "INSERT INTO atlas4d.entities (id, kind, name) VALUES ($1, 'vehicle', 'bench')", entity
        )
        await conn.close()
        core_port = free_port()
        core = start(
            [ATLAS4D, "serve", "--subgraph", "core"],
            env={
                "ATLAS4D_DATABASE_URL": db_url,
                "ATLAS4D_PORT": str(core_port),
                "ATLAS4D_GC_FREEZE": "false",
            },
        )
        procs.append(core)
        core_url = f"http://127.0.0.1:{core_port}/graphql"
        wait_http(core_url, core, {"query": "{ __typename }"})
        sdls = {}
        async with httpx.AsyncClient() as http:
            for name, url in (("core", core_url), ("alerts", node.url)):
                r = await http.post(url, json={"query": "{ _service { sdl } }"})
                sdls[name] = r.json()["data"]["_service"]["sdl"]
        supergraph = Path(tempfile.mkdtemp()) / "supergraph.graphql"
        supergraph.write_text(
            compose(
                [
                    SubgraphSource("core", core_url, sdls["core"]),
                    SubgraphSource("alerts", node.url, sdls["alerts"]),
                ]
            )
        )
        gw_port = free_port()
        gateway = start([ATLAS4D, "gateway", "--supergraph", str(supergraph), "--port", str(gw_port)])
        procs.append(gateway)
        wait_http(f"http://127.0.0.1:{gw_port}/graphql", gateway, {"query": "{ __typename }"})
        pids = {"gateway": lambda: process_tree(gateway.pid), "core": lambda: process_tree(core.pid)}
        direct = node.url.replace("http://", "ws://")
        through = f"ws://127.0.0.1:{gw_port}/graphql"
        plain = "subscription { alertRaised { message entity { id } } }"
        joined = "subscription { alertRaised { message entity { id kind name } } }"
        out = [
            await phase(
                "floor: JS subgraph directly",
                direct,
                [plain] * clients,
                node,
                events,
                rate,
                str(entity),
                pids,
            ),
            await phase(
                "gateway, identical (1 upstream)",
                through,
                [joined] * clients,
                node,
                events,
                rate,
                str(entity),
                pids,
            ),
            await phase(
                "gateway, distinct (1 upstream each)",
                through,
                [joined.replace("alertRaised", f"a{i}: alertRaised") for i in range(clients)],
                node,
                events,
                rate,
                str(entity),
                pids,
            ),
        ]
        return out
    finally:
        for proc in procs:
            stop(proc)
        node.stop()
        await admin.execute("DROP DATABASE IF EXISTS atlas4d_bench_gwsubs WITH (FORCE)")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=100, help="events per second")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = asyncio.run(run(args.clients, args.events, args.rate))
    print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; after: {os.getloadavg()[0]:.1f}")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
