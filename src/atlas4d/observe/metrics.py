"""Prometheus metrics: the instruments, the hooks the other layers call, and `/metrics`.

Nothing is created at import. `enable_metrics()` (from `create_app` when `ATLAS4D_METRICS` is on) builds the
instruments once per process; until then every hook is a no-op costing one global read. Hooks are called by the
HTTP layer (request latency by operation and outcome), the pool's query logger (SQL time), the DataLoader cache
(batch sizes), the subgraph transport (fetch latency and failures), the ingest step (rows) and the subscription
services (active subscriptions); nothing inside resolvers.

Worker processes: prometheus_client keeps values in memory-mapped files under `PROMETHEUS_MULTIPROC_DIR` when
that is set before it is imported; `atlas4d serve --workers N` sets it (a fresh temporary folder) before uvicorn
starts the workers, and `/metrics` then adds up every worker's files (gauges: live workers only), whichever
worker the scrape reaches.

Operation names are chosen by clients: the first `MAX_OPERATION_NAMES` distinct names of a process are kept as
labels, later ones are counted as `other`, so a client cannot grow the series without bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the endpoint imports starlette when called: the CLI imports this module, not a server
    from starlette.requests import Request
    from starlette.responses import Response

MAX_OPERATION_NAMES = 200
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SQL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000)


@dataclass
class Instruments:
    graphql_seconds: Any
    http_seconds: Any
    sql_seconds: Any
    loader_batch: Any
    subgraph_seconds: Any
    subgraph_errors: Any
    pool_connections: Any
    ingest_rows: Any
    subscriptions: Any
    operation_names: set[str]
    children: dict[tuple[int, tuple[str, ...]], Any]


_instruments: Instruments | None = None


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def enable_metrics() -> Instruments:
    """The process's instruments (made on the first call)."""
    global _instruments
    if _instruments is not None:
        return _instruments
    from prometheus_client import Counter, Gauge, Histogram

    _instruments = Instruments(
        graphql_seconds=Histogram(
            "atlas4d_graphql_request_duration_seconds",
            "GraphQL requests by operation name and outcome (ok, error: errors in the answer, "
            "refused: a request error, no data).",
            ["operation", "outcome"],
            buckets=LATENCY_BUCKETS,
        ),
        http_seconds=Histogram(
            "atlas4d_http_request_duration_seconds",
            "Every HTTP request by route family, method and status class.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
        ),
        sql_seconds=Histogram(
            "atlas4d_sql_duration_seconds",
            "Time of each SQL statement, as asyncpg's query logger saw it.",
            ["outcome"],
            buckets=SQL_BUCKETS,
        ),
        loader_batch=Histogram(
            "atlas4d_dataloader_batch_size",
            "Keys per DataLoader batch (one SQL statement).",
            ["loader"],
            buckets=BATCH_BUCKETS,
        ),
        subgraph_seconds=Histogram(
            "atlas4d_subgraph_fetch_duration_seconds",
            "Fetches of the gateway from its subgraphs, by subgraph, transport and outcome.",
            ["subgraph", "transport", "outcome"],
            buckets=LATENCY_BUCKETS,
        ),
        subgraph_errors=Counter(
            "atlas4d_subgraph_fetch_errors",
            "Subgraph fetches without a usable answer, by code.",
            ["subgraph", "code"],
        ),
        pool_connections=Gauge(
            "atlas4d_db_pool_connections",
            "Database pool connections by state (in_use, idle, max).",
            ["state"],
            multiprocess_mode="livesum",
        ),
        ingest_rows=Counter(
            "atlas4d_ingest_rows", "Observations stored, by the face they came in on.", ["source"]
        ),
        subscriptions=Gauge(
            "atlas4d_subscriptions_active",
            "Live subscriptions, by transport.",
            ["transport"],
            multiprocess_mode="livesum",
        ),
        operation_names=set(),
        children={},
    )
    return _instruments


def instruments() -> Instruments | None:
    return _instruments


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    m = _instruments
    if m is None:
        return name
    if name in m.operation_names:
        return name
    if len(m.operation_names) >= MAX_OPERATION_NAMES:
        return "other"
    m.operation_names.add(name)
    return name


def _child(m: Instruments, metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, remembered (prometheus_client's own lookup costs about 1 µs a call)."""
    key = (id(metric), labels)
    child = m.children.get(key)
    if child is None:
        child = m.children[key] = metric.labels(*labels)
    return child


# --- hooks (no-ops until enable_metrics) -------------------------------------------------------------


def graphql_request(operation: str | None, outcome: str, seconds: float) -> None:
    m = _instruments
    if m is not None:
        _child(m, m.graphql_seconds, operation_label(operation), outcome).observe(seconds)


def http_request(route: str, method: str, status: int, seconds: float) -> None:
    m = _instruments
    if m is not None:
        _child(m, m.http_seconds, route, method, f"{status // 100}xx").observe(seconds)


def sql_statement(seconds: float, failed: bool) -> None:
    m = _instruments
    if m is not None:
        _child(m, m.sql_seconds, "error" if failed else "ok").observe(seconds)


def loader_batch(loader: str, size: int) -> None:
    m = _instruments
    if m is not None:
        _child(m, m.loader_batch, loader).observe(size)


def subgraph_fetch(subgraph: str, transport: str, seconds: float, error_code: str | None) -> None:
    m = _instruments
    if m is not None:
        _child(m, m.subgraph_seconds, subgraph, transport, "error" if error_code else "ok").observe(seconds)
        if error_code:
            m.subgraph_errors.labels(subgraph, error_code).inc()


def ingest_rows(source: str, rows: int) -> None:
    m = _instruments
    if m is not None and rows:
        m.ingest_rows.labels(source).inc(rows)


def subscription_started(transport: str) -> None:
    m = _instruments
    if m is not None:
        m.subscriptions.labels(transport).inc()


def subscription_ended(transport: str) -> None:
    m = _instruments
    if m is not None:
        m.subscriptions.labels(transport).dec()


def pool_usage(usage: dict[str, int] | None) -> None:
    m = _instruments
    if m is not None and usage is not None:
        for state in ("in_use", "idle", "max"):
            m.pool_connections.labels(state).set(usage[state])


# --- /metrics ----------------------------------------------------------------------------------------


def exposition() -> tuple[bytes, str]:
    """The text exposition of this process, or of every worker's files in multiprocess mode."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


async def metrics_endpoint(request: Request) -> Response:
    from starlette.responses import Response

    from atlas4d.observe.ready import pool_usage as usage_of

    pool_usage(usage_of(getattr(request.app.state, "pool", None)))  # this worker's, as of the scrape
    body, media_type = exposition()
    return Response(body, media_type=media_type)
