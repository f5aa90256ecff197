# ruff: noqa: RUF002
"""Q5: the same NDJSON file of observations stored by each ingest path into the ingest database (emptied
and checkpointed before each), so the read benchmark's data is never touched."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson

from bench.procs import cpu_seconds

BATCH = 10_000
INGEST_MUTATION = (
    "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) "
    "{ accepted entitiesCreated tracksUpdated } }"
)
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class IngestResult:
    rows: int
    seconds: float
    server_cores: float
    postgres_cores: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def write_file(path: Path, count: int, seed: int = 7) -> Path:
    """`count` ObservationInput lines: 2,000 entities, one day around lon 27–28, lat 42–43 (deterministic)."""
    if path.exists() and path.stat().st_size and path.read_bytes().count(b"\n") == count:
        return path
    rng = random.Random(seed)
    entities = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2_000)]
    start = datetime(2026, 11, 2, tzinfo=UTC)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for i in range(count):
            item = {
                "time": (start + timedelta(seconds=86_400 * i / count)).isoformat(),
                "lon": 27.0 + rng.random(),
                "lat": 42.0 + rng.random(),
                "speed": round(rng.uniform(0, 30), 2),
                "heading": round(rng.uniform(0, 359.9), 1),
                "sourceType": "gps",
                "entityId": entities[i % len(entities)],
                "entityKind": "vehicle",
            }
            f.write(orjson.dumps(item) + b"\n")
    return path


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks RESTART IDENTITY"
        )
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def stored(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM atlas4d.observations_core"))
    finally:
        await conn.close()


def _timed(
    work: Callable[[], int], server: Callable[[], list[int]], postgres: Callable[[], list[int]]
) -> IngestResult:
    s0, p0, t0 = cpu_seconds(server), cpu_seconds(postgres), time.perf_counter()
    rows = work()
    seconds = time.perf_counter() - t0
    return IngestResult(
        rows, seconds, (cpu_seconds(server) - s0) / seconds, (cpu_seconds(postgres) - p0) / seconds
    )


def mutation_bodies(path: Path) -> list[bytes]:
    lines = [line for line in path.read_bytes().split(b"\n") if line]
    return [
        b'{"query":'
        + orjson.dumps(INGEST_MUTATION)
        + b',"variables":{"o":['
        + b",".join(lines[i : i + BATCH])
        + b"]}}"
        for i in range(0, len(lines), BATCH)
    ]


def via_mutation(url: str, bodies: list[bytes]) -> int:
    accepted = 0
    with httpx.Client(timeout=300) as client:
        for body in bodies:
            response = client.post(url, content=body, headers={"Content-Type": "application/json"})
            data = response.json()
            if response.status_code != 200 or "errors" in data:
                raise RuntimeError(f"ingestObservations failed: {response.text[:500]}")
            accepted += int(data["data"]["ingestObservations"]["accepted"])
    return accepted


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while data := f.read(1024 * 1024):
            yield data


def via_bulk_http(url: str, path: Path) -> int:
    response = httpx.post(
        url, content=_pieces(path), headers={"Content-Type": "application/x-ndjson"}, timeout=600
    )
    if response.status_code != 200:
        raise RuntimeError(f"POST /ingest/observations failed: {response.text[:500]}")
    return int(response.json()["accepted"])


def via_cli(dsn: str, path: Path) -> int:
    env = {**os.environ, "ATLAS4D_DATABASE_URL": dsn}
    command = [sys.executable, "-m", "atlas4d", "ingest", str(path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"atlas4d ingest failed:\n{done.stdout}\n{done.stderr}")
    return int(done.stdout.split("accepted ")[1].split()[0])


def via_floor(dsn: str, path: Path, connections: int, raw: bool) -> tuple[int, float]:
    command = [sys.executable, "-m", "bench.floor", str(path), dsn, "--connections", str(connections)]
    done = subprocess.run([*command, *(["--raw"] if raw else [])], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"bench.floor failed:\n{done.stderr}")
    result = orjson.loads(done.stdout.strip().splitlines()[-1])
    return int(result["rows"]), float(result["seconds"])


def run_floor(
    dsn: str, path: Path, connections: int, raw: bool, postgres: Callable[[], list[int]]
) -> IngestResult:
    # the script times itself (after reading the file; for --raw after building the rows); CPU is taken
    # over the whole run, so it is reported per second of that run, not of the timed part
    me = os.getpid()
    s0, p0, t0 = cpu_seconds(lambda: [me]), cpu_seconds(postgres), time.perf_counter()
    rows, seconds = via_floor(dsn, path, connections, raw)
    wall = time.perf_counter() - t0
    return IngestResult(
        rows, seconds, (cpu_seconds(lambda: [me]) - s0) / wall, (cpu_seconds(postgres) - p0) / wall
    )


def ingest_systems(
    dsn: str,
    graphql_url: str,
    server_pids: Callable[[], list[int]],
    path: Path,
    postgres: Callable[[], list[int]],
) -> dict[str, Callable[[], IngestResult]]:
    """Each ingest path as a callable that stores the whole file once and measures it."""
    bodies = mutation_bodies(path)
    bulk_url = graphql_url.rsplit("/graphql", 1)[0] + "/ingest/observations"
    me = os.getpid()
    return {
        "ingestObservations (GraphQL, 10k a call)": lambda: _timed(
            lambda: via_mutation(graphql_url, bodies), server_pids, postgres
        ),
        "bulk NDJSON over HTTP (1 connection)": lambda: _timed(
            lambda: via_bulk_http(bulk_url, path), server_pids, postgres
        ),
        "atlas4d ingest FILE (one transaction)": lambda: _timed(
            lambda: via_cli(dsn, path), lambda: [me], postgres
        ),
        "floor: orjson + validation + COPY, 1 connection": lambda: run_floor(dsn, path, 1, False, postgres),
        "floor: orjson + validation + COPY, 2 connections": lambda: run_floor(dsn, path, 2, False, postgres),
        "floor: raw binary COPY, 1 connection": lambda: run_floor(dsn, path, 1, True, postgres),
    }


def measure(
    systems: dict[str, Callable[[], IngestResult]], dsn: str, expected: int, rounds: int, skip: set[str]
) -> dict[str, list[IngestResult]]:
    """Rounds interleave the systems; each starts on an empty, checkpointed table and must store every row."""
    out: dict[str, list[IngestResult]] = {}
    for _ in range(rounds):
        for name, run in systems.items():
            if name in skip:
                continue
            asyncio.run(reset(dsn))
            result = run()
            count = asyncio.run(stored(dsn))
            if result.rows != expected or count != expected:
                raise RuntimeError(
                    f"{name}: reported {result.rows} rows, stored {count}, expected {expected}"
                )
            out.setdefault(name, []).append(result)
            load = os.getloadavg()[0]
            print(f"  {name}: {result.rows_per_s:,.0f} rows/s (load {load:.1f})", flush=True)
    asyncio.run(reset(dsn))
    return out
