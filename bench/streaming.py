"""`python -m bench.streaming`: live subscriptions under load, measured at the server (issue 17 item 7).

One `atlas4d serve` process (1 worker) on a database of its own, pinned to one core (`taskset -c 0`); the load
runs in other processes pinned to the other core (bench/stream_load.py), so the client side is not what is
measured:
- `CLIENTS` subscriber processes, each holding SUBSCRIBERS / CLIENTS graphql-transport-ws sockets on one
  event loop (a lean hand-rolled WebSocket client, bench/lean_ws.py; each process's CPU is reported);
- one ingest process committing small batches (`EVERY` s apart) straight into observations_core, each row
  carrying its sequence number in `metadata.seq`, recording the moment each COMMIT was acknowledged.
Latency = a client's receive time - the row's commit-ack time, both CLOCK_MONOTONIC (one clock on one machine).

Phases: (1) 1,000 sockets connect + connection_init + subscribe (acked by a ping/pong after it) all at once:
time until the last is attached, server CPU spent. (2) Rounds at growing ingest rates (RATES obs/s, the first
for SECONDS with a slow consumer that stops reading, the others ROUND_SECONDS): deliveries/s, p50/p99/max,
server CPU per delivery and share of its core, server RSS every second, and every delivery checked against
the expected (each box against each point, closed boundaries). (3) The same 1,000 boxes polling
`observations(filter: {bbox, time: {from}})` once a second over keep-alive HTTP while 1,000 obs/s are written.
Server CPU and RSS come from /proc/<server pid> only (the database's processes are not counted).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import orjson

from atlas4d.db.embedded import EmbeddedCluster, database_url
from atlas4d.db.migrate import core_migrations
from atlas4d.db.pool import migrate_database
from atlas4d.settings import Settings
from bench.procs import free_port, install_cleanup, start, stop, wait_http
from bench.stream_load import client_process, ingest_process

ROOT = Path(__file__).resolve().parents[1]
DB = "atlas4d_bench_stream"
SUBSCRIBERS = int(os.environ.get("BENCH_STREAM_SUBSCRIBERS", "1000"))
CLIENTS = int(os.environ.get("BENCH_STREAM_CLIENTS", "4"))
SECONDS = int(os.environ.get("BENCH_STREAM_SECONDS", "60"))
ROUND_SECONDS = int(os.environ.get("BENCH_STREAM_ROUND_SECONDS", "20"))
RATES = [int(r) for r in os.environ.get("BENCH_STREAM_RATES", "1000,2000,3000").split(",")]
POLL_SECONDS = int(os.environ.get("BENCH_STREAM_POLL_SECONDS", "30"))
PYSPY = os.environ.get("BENCH_STREAM_PYSPY")  # a folder: py-spy profiles of the subscribe phase and round 1
EVERY = float(os.environ.get("BENCH_STREAM_EVERY", "0.02"))  # seconds between commits (small batches)
SERVER_CPU, LOAD_CPU = 0, 1
AREA = (10.0, 40.0, 30.0, 50.0)  # lon 10..30, lat 40..50


def boxes(n: int, rng: random.Random) -> list[dict[str, float]]:
    out = []
    for _ in range(n):
        lon = rng.uniform(AREA[0], AREA[2] - 1)
        lat = rng.uniform(AREA[1], AREA[3] - 1)
        out.append({"minLon": lon, "minLat": lat, "maxLon": lon + 1, "maxLat": lat + 1})
    return out


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(values: np.ndarray[Any, Any], q: float) -> float:
    return float(np.quantile(values, q) * 1000) if len(values) else float("nan")


class Fleet:
    """The load processes and their pipes."""

    def __init__(self, port: int, url: str, all_boxes: list[dict[str, float]]) -> None:
        ctx = mp.get_context("spawn")
        self.clients: list[Connection] = []
        self.procs: list[Any] = []
        for i in range(CLIENTS):
            mine, theirs = ctx.Pipe()
            share = all_boxes[i::CLIENTS]
            p = ctx.Process(
                target=client_process, args=(theirs, "127.0.0.1", port, share, LOAD_CPU), daemon=True
            )
            p.start()
            self.clients.append(mine)
            self.procs.append(p)
        mine, theirs = ctx.Pipe()
        p = ctx.Process(target=ingest_process, args=(theirs, url, AREA, LOAD_CPU), daemon=True)
        p.start()
        self.ingest = mine
        self.procs.append(p)

    def all(self, *command: Any) -> list[Any]:
        for pipe in self.clients:
            pipe.send(command)
        return [pipe.recv() for pipe in self.clients]

    def close(self) -> None:
        for pipe in [*self.clients, self.ingest]:
            try:
                pipe.send(("exit",))
                pipe.recv()
            except (OSError, EOFError):
                pass
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.terminate()


def expected_deliveries(
    lons: np.ndarray[Any, Any], lats: np.ndarray[Any, Any], bx: list[dict[str, float]]
) -> int:
    total = 0
    for b in bx:
        total += int(
            np.count_nonzero(
                (lons >= b["minLon"]) & (lons <= b["maxLon"]) & (lats >= b["minLat"]) & (lats <= b["maxLat"])
            )
        )
    return total


def run_round(
    fleet: Fleet, pid: int, rate: int, seconds: float, seq0: int, bx: list[dict[str, float]], slow: bool
) -> dict[str, Any]:
    slow_pipe = fleet.clients[0]
    if slow:
        whole = {"minLon": AREA[0], "minLat": AREA[1], "maxLon": AREA[2], "maxLat": AREA[3]}
        slow_pipe.send(("slow", whole))
        slow_pipe.recv()
    client_cpu0 = fleet.all("record")
    at = time.monotonic() + 0.5
    fleet.ingest.send(("ingest", rate, seconds, EVERY, seq0, at))
    cpu0, rss = proc_cpu_s(pid), [proc_rss_mb(pid)]
    time.sleep(0.5)
    while time.monotonic() < at + seconds:
        time.sleep(1.0)
        rss.append(proc_rss_mb(pid))
    ingested = fleet.ingest.recv()
    ended = time.monotonic()
    lons = np.frombuffer(ingested["lons"], dtype=np.float64)
    lats = np.frombuffer(ingested["lats"], dtype=np.float64)
    expected = expected_deliveries(lons, lats, bx)
    # until every expected delivery arrived (a backlog is latency, not loss), or 30 s without progress
    last, progress = -1, time.monotonic()
    while time.monotonic() - progress < 30:
        got = sum(fleet.all("count"))
        if got >= expected:
            break
        if got != last:
            last, progress = got, time.monotonic()
        time.sleep(0.2)
    drained = time.monotonic() - ended
    cpu = proc_cpu_s(pid) - cpu0
    taken = fleet.all("take")
    slow_code = None
    if slow:
        slow_pipe.send(("slow_end",))
        slow_code = slow_pipe.recv()
    seqs = np.frombuffer(ingested["seqs"], dtype=np.int64)
    acks = np.frombuffer(ingested["acks"], dtype=np.float64)
    got_seq = np.concatenate([np.frombuffer(t[0], dtype=np.int64) for t in taken])
    got_t = np.concatenate([np.frombuffer(t[1], dtype=np.float64) for t in taken])
    known = (got_seq >= seq0) & (got_seq < seq0 + len(seqs))
    latency = got_t[known] - acks[got_seq[known] - seq0]
    delivered = int(known.sum())
    return {
        "rate_obs_s": rate,
        "seconds": seconds,
        "rows": len(seqs),
        "ingest_max_late_ms": ingested["max_late_s"] * 1000,
        "delivered": delivered,
        "expected": expected,
        "deliveries_per_s": delivered / seconds,
        "p50_ms": ms(latency, 0.5),
        "p99_ms": ms(latency, 0.99),
        "max_ms": float(latency.max() * 1000) if len(latency) else float("nan"),
        "drain_s": drained,
        "server_cpu_s": cpu,
        "server_cpu_share": cpu / (seconds + drained),
        "server_cpu_us_per_delivery": cpu / max(delivered, 1) * 1e6,
        "client_cpu_share_each": [
            round((t[3] - c0) / (seconds + drained), 3) for t, c0 in zip(taken, client_cpu0, strict=True)
        ],
        "rss_mb_first_last_max": (rss[0], rss[-1], max(rss)),
        "rss_mb_every_s": [round(x, 1) for x in rss],
        "slow_consumer_close": slow_code,
    }


def polling_round(fleet: Fleet, pid: int, seq0: int) -> dict[str, Any]:
    at = time.monotonic() + 1.0
    for pipe in fleet.clients:
        pipe.send(("poll", at, POLL_SECONDS))
    fleet.ingest.send(("ingest", 1000, POLL_SECONDS, EVERY, seq0, at))
    cpu0 = proc_cpu_s(pid)
    ingested = fleet.ingest.recv()
    polled = [pipe.recv() for pipe in fleet.clients]
    cpu = proc_cpu_s(pid) - cpu0
    acks = np.frombuffer(ingested["acks"], dtype=np.float64)
    got_seq = np.concatenate([np.frombuffer(p["seqs"], dtype=np.int64) for p in polled])
    got_t = np.concatenate([np.frombuffer(p["times"], dtype=np.float64) for p in polled])
    known = (got_seq >= seq0) & (got_seq < seq0 + len(acks))
    latency = got_t[known] - acks[got_seq[known] - seq0]
    request_s = np.array([x for p in polled for x in p["request_s"]])
    return {
        "seconds": POLL_SECONDS,
        "delivered": int(known.sum()),
        "deliveries_per_s": int(known.sum()) / POLL_SECONDS,
        "p50_ms": ms(latency, 0.5),
        "p99_ms": ms(latency, 0.99),
        "requests_per_s": len(request_s) / POLL_SECONDS,
        "request_p50_ms": ms(request_s, 0.5),
        "request_p99_ms": ms(request_s, 0.99),
        "request_errors": sum(p["errors"] for p in polled),
        "first_error": next((p["first_error"] for p in polled if p["first_error"]), None),
        "server_cpu_share": cpu / POLL_SECONDS,
        "server_cpu_us_per_delivery": cpu / max(int(known.sum()), 1) * 1e6,
        "client_cpu_share_each": [round(p["cpu_s"] / POLL_SECONDS, 3) for p in polled],
    }


def profiler(pid: int, name: str) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server while a phase runs (collapsed stacks in PYSPY/name.txt)."""
    if not PYSPY:
        return None
    Path(PYSPY).mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    args = [str(spy), "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", f"{PYSPY}/{name}.txt"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profiled(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


def measure(port: int, pid: int, url: str) -> dict[str, Any]:
    bx = boxes(SUBSCRIBERS, random.Random(1))
    fleet = Fleet(port, url, bx)
    try:
        rss_idle = proc_rss_mb(pid)
        cpu0 = proc_cpu_s(pid)
        at = time.monotonic() + 2.0
        spy = profiler(pid, "subscribe")
        subscribed = fleet.all("subscribe", at)
        profiled(spy)
        each = np.array([x for s in subscribed for x in s["each_s"]])
        failures = [f for s in subscribed for f in s["failures"]]
        report: dict[str, Any] = {
            "subscribers": SUBSCRIBERS,
            "client_processes": CLIENTS,
            "subscribe": {
                "all_s": max(s["last"] for s in subscribed) - at,
                "each_p50_ms": ms(each, 0.5),
                "each_p99_ms": ms(each, 0.99),
                "failures": len(failures),
                "first_failures": failures[:3],
                "server_cpu_ms_per_subscribe": (proc_cpu_s(pid) - cpu0) / max(len(each), 1) * 1000,
                "client_cpu_s_each": [round(s["cpu_s"], 2) for s in subscribed],
            },
            "rss_mb_idle": rss_idle,
            "rss_mb_subscribed": proc_rss_mb(pid),
        }
        print("subscribe:", orjson.dumps(report["subscribe"]).decode(), flush=True)
        fleet.ingest.send(("ingest", 1000, 3, EVERY, 0, time.monotonic()))  # warm-up, not measured
        fleet.ingest.recv()
        time.sleep(1)
        rounds = []
        for n, rate in enumerate(RATES):
            seconds = SECONDS if n == 0 else ROUND_SECONDS
            spy = profiler(pid, f"round-{rate}")
            result = run_round(fleet, pid, rate, seconds, (n + 1) * 10_000_000, bx, slow=n == 0)
            profiled(spy)
            print(f"round {rate} obs/s:", orjson.dumps(result).decode(), flush=True)
            rounds.append(result)
        report["rounds"] = rounds
        fleet.all("close")
        if POLL_SECONDS > 0:
            report["polling"] = polling_round(fleet, pid, 100_000_000)
            print("polling:", orjson.dumps(report["polling"]).decode(), flush=True)
        return report
    finally:
        fleet.close()


async def prepare() -> tuple[str, str]:
    settings = Settings(gc_freeze=False)
    admin_url = database_url(settings)
    if settings.embedded():
        cluster = EmbeddedCluster.from_settings(settings)
        cluster.start()
        admin_url = cluster.admin_url()
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DB}")
    finally:
        await admin.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{DB}"
    await migrate_database(settings, url, core_migrations())
    return admin_url, url


async def drop(admin_url: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    finally:
        await admin.close()


def main() -> None:
    install_cleanup()
    admin_url, url = asyncio.run(prepare())
    port = free_port()
    env = {
        "ATLAS4D_DATABASE_URL": url,
        "ATLAS4D_PORT": str(port),
        "ATLAS4D_WORKERS": "1",
        "ATLAS4D_MODULES": "none",
        "ATLAS4D_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "100000",
        "ATLAS4D_GRAPHIQL": "false",
        "ATLAS4D_LOG_LEVEL": "WARNING",
    }
    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {LOAD_CPU})
    command = ["taskset", "-c", str(SERVER_CPU), sys.executable, "-m", "atlas4d", "serve"]
    proc = start(command, env=env, cwd=ROOT, log=logs / "streaming.log")
    base = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()
    try:
        wait_http(base + "/graphql", proc, {"query": "{ __typename }"})
        report = measure(port, proc.pid, url)
    finally:
        stop(proc)
        asyncio.run(drop(admin_url))
    load = os.getloadavg()
    report["load_average_before"] = [round(x, 2) for x in load_before]
    report["load_average_after"] = [round(x, 2) for x in load]
    report["cores"] = os.cpu_count()
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()
    (logs / "streaming.json").write_text(text)
    print(text)
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    """The tables of bench/RESULTS.md."""
    sub = report["subscribe"]
    lines = [
        f"load average {report['load_average_before']} before, {report['load_average_after']} after, "
        f"{report['cores']} cores; server on core {SERVER_CPU}, {report['client_processes']} client processes "
        f"+ ingest on core {LOAD_CPU}",
        "",
        f"Subscribe: {report['subscribers']:,} sockets (connect + connection_init + subscribe, acked by ping/pong) "
        f"in **{sub['all_s']:.2f} s** (each: p50 {sub['each_p50_ms']:.0f} ms, p99 {sub['each_p99_ms']:.0f} ms; "
        f"{sub['failures']} failed); server CPU {sub['server_cpu_ms_per_subscribe']:.2f} ms per subscribe. "
        f"RSS {report['rss_mb_idle']:.1f} MB idle -> {report['rss_mb_subscribed']:.1f} MB subscribed.",
        "",
        "| ingest | seconds | delivered (expected) | deliveries/s | p50 / p99 / max ms | server CPU per delivery "
        "| server core share | client CPU share (each) | RSS first / last / max MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rounds"]:
        rss = r["rss_mb_first_last_max"]
        lines.append(
            f"| {r['rate_obs_s']:,} obs/s | {r['seconds']} | {r['delivered']:,} ({r['expected']:,}) "
            f"| {r['deliveries_per_s']:,.0f} | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} / {r['max_ms']:.1f} "
            f"| {r['server_cpu_us_per_delivery']:.1f} µs | {r['server_cpu_share'] * 100:.0f} % "
            f"| {max(r['client_cpu_share_each']) * 100:.0f} % | {rss[0]:.1f} / {rss[1]:.1f} / {rss[2]:.1f} |"
        )
    first = report["rounds"][0]
    lines.append("")
    lines.append(f"Slow consumer (round 1): close code {first['slow_consumer_close']}.")
    poll = report.get("polling")
    if poll:
        lines += [
            "",
            f"Polling at 1 s ({poll['seconds']} s, 1,000 obs/s): {poll['delivered']:,} rows "
            f"({poll['deliveries_per_s']:,.0f}/s), commit -> client p50 {poll['p50_ms']:.0f} ms / "
            f"p99 {poll['p99_ms']:.0f} ms; {poll['requests_per_s']:.0f} req/s (p50 {poll['request_p50_ms']:.1f} ms, "
            f"p99 {poll['request_p99_ms']:.1f} ms, {poll['request_errors']} errors); server CPU "
            f"{poll['server_cpu_us_per_delivery']:.1f} µs per delivered row, {poll['server_cpu_share'] * 100:.0f} % "
            f"of its core; client CPU {max(poll['client_cpu_share_each']) * 100:.0f} % (each)",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
