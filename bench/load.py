"""Driving load: wrk with a Lua POST script for the GraphQL systems, pgbench for raw SQL; each run also
records the CPU used by the system's process tree and by PostgreSQL's, from /proc."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.procs import cpu_seconds

CONNECTIONS = 16
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    server_cores: float  # CPU seconds per second of the system (server tree, or pgbench itself)
    postgres_cores: float
    socket_errors: str = ""  # wrk's socket error counts when a retry still had some


def lua_script(body: dict[str, object], folder: Path, name: str) -> Path:
    text = json.dumps(body, separators=(",", ":"))
    if "]==]" in text:
        raise ValueError("request body cannot be quoted in Lua")
    path = folder / f"{name}.lua"
    path.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[{text}]==]\n'
    )
    return path


def latency_ms(out: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if match is None:
        raise RuntimeError(f"no {percentile}% latency in wrk output:\n{out}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _measured(
    run: Callable[[], str],
    server: Callable[[], list[int]],
    postgres: Callable[[], list[int]],
) -> tuple[str, float, float]:
    s0, p0, t0 = cpu_seconds(server), cpu_seconds(postgres), time.monotonic()
    out = run()
    elapsed = time.monotonic() - t0
    return out, (cpu_seconds(server) - s0) / elapsed, (cpu_seconds(postgres) - p0) / elapsed


def wrk(
    url: str,
    script: Path,
    *,
    duration: int,
    warmup: int,
    server: Callable[[], list[int]],
    postgres: Callable[[], list[int]],
    threads: int = 2,
) -> Measurement:
    def command(seconds: int) -> list[str]:
        return [
            "wrk",
            f"-t{threads}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "--latency",
            "-s",
            str(script),
            url,
        ]

    if warmup:
        subprocess.run(command(warmup), capture_output=True, text=True, check=True)

    def run() -> str:
        return subprocess.run(command(duration), capture_output=True, text=True, check=True).stdout

    for attempt in (1, 2):
        out, server_cores, pg_cores = _measured(run, server, postgres)
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        if bad:
            raise RuntimeError(f"{url}: {bad.group(1)} non-2xx responses during the run:\n{out}")
        errors = re.search(r"Socket errors: (.*)", out)
        socket_errors = errors.group(1) if errors else ""
        if not re.search(r"(connect|read|write|timeout) [1-9]", socket_errors):
            socket_errors = ""
            break
        # a connection the server dropped makes wrk spin on its socket; once more, then report it
        print(f"  wrk socket errors ({socket_errors}), attempt {attempt}", flush=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Measurement(
        rps, latency_ms(out, "50"), latency_ms(out, "99"), server_cores, pg_cores, socket_errors
    )


def pgbench(
    dsn: str,
    sql: str,
    *,
    duration: int,
    warmup: int,
    server: Callable[[], list[int]],
    postgres: Callable[[], list[int]],
) -> Measurement:
    """pgbench -c 16 on one fixed statement; p50/p99 from its per-transaction log."""
    with tempfile.TemporaryDirectory(prefix="atlas4d-pgbench-") as tmp:
        script = Path(tmp) / "query.sql"
        script.write_text(sql + "\n")
        base = ["pgbench", "-n", "-c", str(CONNECTIONS), "-j", "2", "-f", str(script), dsn]
        if warmup:
            subprocess.run([*base, "-T", str(warmup)], capture_output=True, text=True, check=True)
        prefix = str(Path(tmp) / "tx")

        def run() -> str:
            command = [*base, "-T", str(duration), "--log", f"--log-prefix={prefix}"]
            done = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
            if done.returncode != 0:
                raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
            return done.stdout

        out, server_cores, pg_cores = _measured(run, server, postgres)
        latencies: list[float] = []
        for log in Path(tmp).glob("tx*"):
            for line in log.read_text().splitlines():
                latencies.append(int(line.split()[2]) / 1000)
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    if not latencies:
        raise RuntimeError(f"pgbench wrote no transaction log:\n{out}")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Measurement(tps, cuts[49], cuts[98], server_cores, pg_cores)
