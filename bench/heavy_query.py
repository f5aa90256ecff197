"""`python -m bench.heavy_query`: what the heaviest query the limits accept does to everyone else (issue 12).

A real `atlas4d serve` (uvicorn, one worker per core, default limits) on the 1M-row bench database. 16 normal
clients send Q1-Q3 (bench/queries.py) in turn, each waiting for its answer before sending the next; in the
"heavy" phases one more client sends the heaviest accepted query back to back. Phases alternate (normal, heavy,
normal, heavy …) so machine load drifts affect both alike. Printed (copy it into bench/RESULTS.md): the normal
clients' p50/p99 in each phase, the ratio (goal: p99 with the heavy client <= 2x without), and the heavy
query's own latency and cost.

The heaviest accepted query is picked by measurement among candidates just under ATLAS4D_MAX_COST (25,000):
long pages, nested lists, GeoJSON. Needs `atlas4d db start` and a seeded bench database (`make bench` seeds it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from atlas4d.db.embedded import EmbeddedCluster
from atlas4d.settings import Settings
from bench.prepare import bench_database
from bench.queries import q1, q2, q3
from bench.servers import start_atlas4d

CLIENTS = 16
CANDIDATES = {
    "entities(first: 100) -> observations(first: 240), 5 fields (cost 24,100)": (
        "{ entities(first: 100) { nodes { id observations(first: 240) { id time lon lat speed } } } }"
    ),
    "observations(first: 10000), 7 fields + entity (cost 20,001)": (
        "{ observations(first: 10000) { nodes { id time lon lat speed heading geometry entity { id name } } } }"
    ),
    "observationsGeoJSON(limit: 10000) (cost 10,000)": "{ observationsGeoJSON(limit: 10000) }",
    "tracks(first: 200) -> geometry + observations(first: 100) (cost 20,400)": (
        "{ tracks(first: 200) { nodes { id geometry lengthMeters observations(first: 100) { id time } } } }"
    ),
}


async def _timed(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = await client.post(url, json=body)
    elapsed = (time.perf_counter() - started) * 1000
    payload = response.json()
    if response.status_code != 200 or payload.get("errors"):
        raise RuntimeError(f"{response.status_code}: {str(payload)[:300]}")
    return elapsed


async def pick_heaviest(url: str) -> tuple[str, str, float]:
    async with httpx.AsyncClient(timeout=120) as client:
        best = ("", "", 0.0)
        for title, query in CANDIDATES.items():
            times = [await _timed(client, url, {"query": query}) for _ in range(3)]
            median = statistics.median(times)
            print(f"  candidate {title}: {median:.0f} ms")
            if median > best[2]:
                best = (title, query, median)
        return best


async def _normal_client(
    url: str, bodies: list[dict[str, Any]], stop: float, out: list[float], i: int
) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        n = i
        while time.perf_counter() < stop:
            out.append(await _timed(client, url, bodies[n % len(bodies)]))
            n += 1


async def _heavy_client(url: str, query: str, stop: float, out: list[float]) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        while time.perf_counter() < stop:
            out.append(await _timed(client, url, {"query": query}))


async def phase(url: str, seconds: float, heavy: str | None) -> tuple[list[float], list[float]]:
    bodies = [q.requests["atlas4d"].body for q in (q1(), q2(), q3())]
    assert all(b is not None for b in bodies)
    stop = time.perf_counter() + seconds
    normal: list[float] = []
    heavy_times: list[float] = []
    tasks = [_normal_client(url, bodies, stop, normal, i) for i in range(CLIENTS)]  # type: ignore[arg-type]
    if heavy is not None:
        tasks.append(_heavy_client(url, heavy, stop, heavy_times))
    await asyncio.gather(*tasks)
    return normal, heavy_times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def run(url: str, seconds: float, rounds: int) -> dict[str, Any]:
    print("picking the heaviest accepted query:")
    title, query, alone = await pick_heaviest(url)
    await phase(url, 3, None)  # warm-up
    without: list[float] = []
    with_heavy: list[float] = []
    heavy_times: list[float] = []
    for r in range(rounds):
        a, _ = await phase(url, seconds, None)
        b, h = await phase(url, seconds, query)
        without += a
        with_heavy += b
        heavy_times += h
        print(
            f"  round {r + 1}: p99 without {percentile(a, 99):.0f} ms, with {percentile(b, 99):.0f} ms "
            f"({len(h)} heavy requests)"
        )
    return {
        "heavy": title,
        "heavy_alone_ms": alone,
        "heavy_p50_ms": statistics.median(heavy_times) if heavy_times else float("nan"),
        "without": (len(without), percentile(without, 50), percentile(without, 99)),
        "with": (len(with_heavy), percentile(with_heavy, 50), percentile(with_heavy, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    cluster = EmbeddedCluster.from_settings(settings)
    cluster.start()
    dsn = cluster.admin_url().rsplit("/", 1)[0] + "/" + bench_database(1_000_000)
    with tempfile.TemporaryDirectory() as logs:
        server = start_atlas4d(dsn, Path(logs))
        try:
            result = asyncio.run(run(server.url, args.seconds, args.rounds))
        finally:
            server.proc.terminate()
            server.proc.wait(30)
    n0, p50_0, p99_0 = result["without"]
    n1, p50_1, p99_1 = result["with"]
    print(
        f"heavy: {result['heavy']} — alone {result['heavy_alone_ms']:.0f} ms, under load p50 "
        f"{result['heavy_p50_ms']:.0f} ms\n"
        f"16 clients Q1-Q3 without: {n0} requests, p50 {p50_0:.1f} ms, p99 {p99_0:.1f} ms\n"
        f"16 clients Q1-Q3 with:    {n1} requests, p50 {p50_1:.1f} ms, p99 {p99_1:.1f} ms\n"
        f"p99 ratio {p99_1 / p99_0:.2f}x (goal <= 2x)"
    )


if __name__ == "__main__":
    main()
