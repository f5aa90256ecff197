"""`python -m bench.observe_overhead`: CPU time per request that metrics and tracing add, in process (ASGI, real
PostGIS).

The same small query (`entities(first: 10)`, 10 rows seeded) in interleaved rounds with observability off
(`ATLAS4D_METRICS=false`, no OTLP endpoint: the middleware is not installed and every hook returns at once),
metrics on (the default), and metrics + tracing (spans made for request, operation, fetch and SQL, handed to a
batch processor whose exporter drops them: the cost of making spans, not of shipping them). Then each hook
alone. Prints µs of process CPU per request. Needs the embedded cluster (`atlas4d db start`) or
ATLAS4D_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import httpx

from atlas4d.app import create_app
from atlas4d.observe import metrics, tracing
from atlas4d.settings import Settings
from bench.prepare import scratch_database

QUERY = {"query": "query Bench { entities(first: 10) { nodes { id kind name } } }", "operationName": "Bench"}
BENCH_DB = "atlas4d_bench_observe"
REQUESTS = 400
ROUNDS = 3


class _Dropping:
    """A span exporter that keeps nothing."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


async def _cpu_per_request(app: Any) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client:
        for _ in range(20):
            assert (await client.post("/graphql", json=QUERY)).status_code == 200
        start = time.process_time()
        for _ in range(REQUESTS):
            await client.post("/graphql", json=QUERY)
        return (time.process_time() - start) / REQUESTS * 1e6


def _hooks() -> None:
    """Each hook alone (process CPU, best of 5 x 20,000 calls), with metrics on; then one span with tracing on."""
    cases = {
        "graphql_request (histogram, 2 labels)": lambda: metrics.graphql_request("Bench", "ok", 0.001),
        "sql_statement (histogram, 1 label)": lambda: metrics.sql_statement(0.0004, False),
        "loader_batch (histogram, 1 label)": lambda: metrics.loader_batch("entity", 10),
        "http_request (histogram, 3 labels)": lambda: metrics.http_request("/graphql", "POST", 200, 0.001),
        "a span, started and ended (tracing on)": _one_span,
    }
    for name, call in cases.items():
        best = float("inf")
        for _ in range(5):
            start = time.process_time()
            for _ in range(20_000):
                call()
            best = min(best, (time.process_time() - start) / 20_000 * 1e6)
        print(f"hook {name:40s} {best:6.2f} µs")


def _one_span() -> None:
    with tracing.span("bench"):
        pass


async def main() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    settings = Settings(gc_freeze=False)
    # a database of its own (created and dropped here), migrated before anything is written to it
    admin, url = await scratch_database(settings, BENCH_DB)
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO atlas4d.entities (id, kind, name) VALUES ($1, 'vehicle', $2)",
            [(uuid.uuid4(), f"v{i}") for i in range(10)],
        )
    finally:
        await conn.close()
    instruments = metrics.enable_metrics()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Dropping()))  # type: ignore[arg-type]
    tracing.install(provider)
    tracing.uninstall()
    cases = {
        "observability off": (False, False),
        "metrics on": (True, False),
        "metrics + tracing": (True, True),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (metrics_on, tracing_on) in cases.items():
            metrics._instruments = instruments if metrics_on else None
            if tracing_on:
                tracing.install(provider)
            else:
                tracing.uninstall()
            app = create_app(settings.model_copy(update={"metrics": metrics_on}), dsn=url, modules=[])
            async with app.router.lifespan_context(app):
                results[name].append(await _cpu_per_request(app))
    metrics._instruments = instruments
    tracing.install(provider)
    _hooks()
    tracing.uninstall()
    await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    await admin.close()
    base = min(results["observability off"])
    for name, values in results.items():
        best = min(values)
        rounds = " / ".join(f"{v:.0f}" for v in values)
        print(f"{name:20s} {best:8.0f} µs CPU/request  (+{best - base:5.0f})   rounds: {rounds}")


if __name__ == "__main__":
    asyncio.run(main())
