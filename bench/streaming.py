"""`python -m bench.streaming`: live subscriptions under load, against polling the same data (issue 17 item 7).

One `atlas4d serve` process (1 worker) on a database of its own. 1,000 graphql-transport-ws subscribers, each
with its own 1°x1° bbox inside a 20°x10° area, subscribe (time to subscribe all of them); then a writer
commits 100 observations every 100 ms (1,000 obs/s, random points in the area) for `SECONDS`. Each row
carries its batch number; the client records, per delivered event, now - the writer's time after its COMMIT
returned (commit → client latency). Meanwhile one more subscriber (whole area) stops reading: the slow
consumer, closed with 4413 once its queue (1,000 messages) is full — server RSS is sampled every second.
Reported: subscribe time, deliveries/s, latency p50/p99, server CPU per delivered event, RSS before/after.

Polling baseline: the same 1,000 clients, each asking `observations(filter: {bbox, time: {from: last}})`
once per second over HTTP (100 pooled connections) while the same writer runs: server CPU per delivered row,
latency (commit → the poll that returned it) p50/p99.

The clients run in this process (one asyncio loop), so on a small machine they compete with the server for
CPU; the load average is printed with the numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import websockets

from atlas4d.db.embedded import EmbeddedCluster, database_url
from atlas4d.db.migrate import core_migrations
from atlas4d.db.pool import migrate_database
from atlas4d.settings import Settings
from bench.procs import cpu_seconds, free_port, process_tree, start, stop, wait_http

ROOT = Path(__file__).resolve().parents[1]
DB = "atlas4d_bench_stream"
SUBSCRIBERS = int(os.environ.get("BENCH_STREAM_SUBSCRIBERS", "1000"))
SECONDS = int(os.environ.get("BENCH_STREAM_SECONDS", "60"))
POLL_SECONDS = int(os.environ.get("BENCH_STREAM_POLL_SECONDS", "30"))
RATE, EVERY = 100, 0.1  # rows per commit, seconds between commits: 1,000 obs/s
AREA = (10.0, 40.0, 30.0, 50.0)  # lon 10..30, lat 40..50
LIVE = "subscription($f: ObservationFilter) { observationAdded(filter: $f) { id lon lat sourceType } }"
POLL = "query($f: ObservationFilter) { observations(filter: $f, first: 1000) { nodes { id lon lat sourceType } } }"


def boxes(n: int, rng: random.Random) -> list[dict[str, float]]:
    out = []
    for _ in range(n):
        lon = rng.uniform(AREA[0], AREA[2] - 1)
        lat = rng.uniform(AREA[1], AREA[3] - 1)
        out.append({"minLon": lon, "minLat": lat, "maxLon": lon + 1, "maxLat": lat + 1})
    return out


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Writer:
    """Commits RATE rows every EVERY seconds; remembers when each batch's COMMIT returned."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.committed: dict[int, float] = {}
        self.rows = 0
        self.rng = random.Random(7)

    async def run(self, seconds: float) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            batch = len(self.committed)
            end = time.monotonic() + seconds
            next_at = time.monotonic()
            while time.monotonic() < end:
                lons = [self.rng.uniform(AREA[0], AREA[2]) for _ in range(RATE)]
                lats = [self.rng.uniform(AREA[1], AREA[3]) for _ in range(RATE)]
                await conn.execute(
                    "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, source_type) "
                    "SELECT now(), x, y, ST_SetSRID(ST_MakePoint(x, y), 4326), $3 "
                    "FROM unnest($1::float8[], $2::float8[]) AS u(x, y)",
                    lons,
                    lats,
                    f"b{batch}",
                )
                self.committed[batch] = time.time()
                self.rows += RATE
                batch += 1
                next_at += EVERY
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            await conn.close()


async def subscriber(
    ws_url: str,
    box: dict[str, float],
    latencies: list[float],
    writer: Writer,
    ready: asyncio.Event,
    counter: list[int],
) -> None:
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], compression=None) as ws:  # type: ignore[list-item]
        await ws.send('{"type":"connection_init"}')
        await ws.recv()
        variables = {"f": {"bbox": box}}
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": LIVE, "variables": variables}}
        await ws.send(orjson.dumps(subscribe).decode())
        await ws.send('{"type":"ping"}')
        while orjson.loads(await ws.recv())["type"] != "pong":
            pass
        counter[0] += 1
        if counter[0] == counter[1]:
            ready.set()
        async for text in ws:
            now = time.time()
            message = orjson.loads(text)
            if message.get("type") != "next":
                continue
            source = message["payload"]["data"]["observationAdded"]["sourceType"]
            committed = writer.committed.get(int(source[1:]))
            if committed is not None:
                latencies.append(now - committed)


async def slow_consumer(ws_url: str) -> int | None:
    """Subscribes to the whole area and stops reading (a 64 kB receive buffer); its close code, if closed."""
    host, port = ws_url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65_536)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    async with websockets.connect(
        ws_url,
        subprotocols=["graphql-transport-ws"],
        compression=None,
        max_queue=1,
        sock=sock,  # type: ignore[list-item]
    ) as ws:
        await ws.send('{"type":"connection_init"}')
        await ws.recv()
        area = {"minLon": AREA[0], "minLat": AREA[1], "maxLon": AREA[2], "maxLat": AREA[3]}
        payload = {"query": LIVE, "variables": {"f": {"bbox": area}}}
        await ws.send(orjson.dumps({"id": "s", "type": "subscribe", "payload": payload}).decode())
        await asyncio.sleep(SECONDS + 2)

        async def drain() -> None:
            async for _ in ws:
                pass

        with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
            await asyncio.wait_for(drain(), 5)
        return ws.close_code


async def streaming_round(base: str, pids: list[int], url: str, rng: random.Random) -> dict[str, Any]:
    ws_url = base.replace("http://", "ws://") + "/graphql"
    writer = Writer(url)
    latencies: list[float] = []
    ready = asyncio.Event()
    counter = [0, SUBSCRIBERS]
    rss0 = rss_mb(pids)
    t0 = time.perf_counter()
    tasks = [
        asyncio.create_task(subscriber(ws_url, box, latencies, writer, ready, counter))
        for box in boxes(SUBSCRIBERS, rng)
    ]
    await asyncio.wait_for(ready.wait(), 300)
    subscribe_s = time.perf_counter() - t0
    rss_subscribed = rss_mb(pids)
    slow = asyncio.create_task(slow_consumer(ws_url))
    await asyncio.sleep(1)
    cpu0 = cpu_seconds(lambda: pids)
    samples = []

    async def sample() -> None:
        while True:
            samples.append(rss_mb(pids))
            await asyncio.sleep(1)

    sampler = asyncio.create_task(sample())
    await writer.run(SECONDS)
    await asyncio.sleep(2)  # the last batches arrive
    cpu = cpu_seconds(lambda: pids) - cpu0
    sampler.cancel()
    delivered = len(latencies)
    for task in tasks:
        task.cancel()
    slow_code = await slow
    return {
        "subscribers": SUBSCRIBERS,
        "subscribe_s": subscribe_s,
        "rows": writer.rows,
        "delivered": delivered,
        "deliveries_per_s": delivered / SECONDS,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "cpu_us_per_delivery": cpu / max(delivered, 1) * 1e6,
        "cpu_share": cpu / (SECONDS + 2),
        "rss_mb_idle": rss0,
        "rss_mb_subscribed": rss_subscribed,
        "rss_mb_during": (min(samples), max(samples)) if samples else (0, 0),
        "slow_consumer_close": slow_code,
    }


async def polling_round(base: str, pids: list[int], url: str, rng: random.Random) -> dict[str, Any]:
    writer = Writer(url)
    latencies: list[float] = []
    request_ms: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + POLL_SECONDS

    async def poller(http: httpx.AsyncClient, box: dict[str, float], offset: float) -> None:
        await asyncio.sleep(offset)
        since = datetime.now(UTC)
        seen: set[str] = set()
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            # rows are stamped with their transaction's start: look 2 s back, skip what was seen
            variables = {"f": {"bbox": box, "time": {"from": (since - timedelta(seconds=2)).isoformat()}}}
            since = datetime.now(UTC)
            try:
                r = await http.post("/graphql", json={"query": POLL, "variables": variables})
            except httpx.HTTPError:
                errors[0] += 1
                continue
            now = time.time()
            request_ms.append((time.perf_counter() - started) * 1000)
            for node in r.json()["data"]["observations"]["nodes"]:
                committed = writer.committed.get(int(node["sourceType"][1:]))
                if committed is not None and node["id"] not in seen:
                    seen.add(node["id"])
                    latencies.append(now - committed)
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))

    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        cpu0 = cpu_seconds(lambda: pids)
        pollers = [asyncio.create_task(poller(http, box, rng.random())) for box in boxes(SUBSCRIBERS, rng)]
        await writer.run(POLL_SECONDS)
        await asyncio.gather(*pollers)
        cpu = cpu_seconds(lambda: pids) - cpu0
    return {
        "delivered": len(latencies),
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "request_p50_ms": pct(request_ms, 0.5),
        "requests_per_s": len(request_ms) / POLL_SECONDS,
        "request_errors": errors[0],
        "cpu_us_per_delivery": cpu / max(len(latencies), 1) * 1e6,
        "cpu_share": cpu / POLL_SECONDS,
    }


async def main() -> None:
    settings = Settings(gc_freeze=False)
    admin_url = database_url(settings)
    if settings.embedded():
        cluster = EmbeddedCluster.from_settings(settings)
        cluster.start()
        admin_url = cluster.admin_url()
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DB}")
    url = admin_url.rsplit("/", 1)[0] + f"/{DB}"
    await migrate_database(settings, url, core_migrations())
    port = free_port()
    env = {
        "ATLAS4D_DATABASE_URL": url,
        "ATLAS4D_PORT": str(port),
        "ATLAS4D_WORKERS": "1",
        "ATLAS4D_MODULES": "none",
        "ATLAS4D_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "100000",
        "ATLAS4D_GRAPHIQL": "false",
    }
    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    proc = start([sys.executable, "-m", "atlas4d", "serve"], env=env, cwd=ROOT, log=logs / "streaming.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/graphql", proc, {"query": "{ __typename }"})
        pids = process_tree(proc.pid)
        rng = random.Random(1)
        live = await streaming_round(base, pids, url, rng)
        print("streaming:", orjson.dumps(live, option=orjson.OPT_INDENT_2).decode(), flush=True)
        polled = await polling_round(base, pids, url, random.Random(1))
    finally:
        stop(proc)
        await admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        await admin.close()
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print("polling 1 s:", orjson.dumps(polled, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    asyncio.run(main())
