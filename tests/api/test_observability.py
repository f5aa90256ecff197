"""Metrics, traces and logs, asserted on a real PostGIS through real HTTP.

- `/metrics`: GraphQL latency by operation and outcome, SQL time, DataLoader batch sizes, pool usage and ingest
  rows move by exactly what the requests did; under `atlas4d serve --workers 2` every scrape adds up both
  workers, whichever answers it.
- Traces (an in-memory exporter): a gateway in front of a real remote subgraph (uvicorn on a socket) gives one
  trace: the client's traceparent -> the gateway's request span -> operation -> plan, fetch -> the subgraph's
  request span (it received our W3C traceparent) -> ... -> the SQL statement.
- Logs: JSON lines carrying the request id and the trace id of the request that logged them.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from atlas4d.app import create_app
from atlas4d.federation.app import create_app as create_gateway_app
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.subgraph import subgraph_sdl
from atlas4d.observe import tracing
from atlas4d.observe.logs import formatter
from atlas4d.platform import local_schemas
from atlas4d.settings import Settings
from live_server import ATLAS4D, ROOT, free_port

ENTITY = "7d1c8d6e-2f4a-4b8e-9a51-3c6f0e2b9a10"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_follow_the_requests(client: httpx.AsyncClient, clean_db: asyncpg.Pool) -> None:
    await clean_db.execute(
        "INSERT INTO atlas4d.entities (id, kind, name) VALUES ($1, 'vehicle', 'm-1')",
        uuid.UUID(ENTITY),
    )
    before = samples((await client.get("/metrics")).text)
    ok = {
        "query": "query MetricsOk { entities { nodes { id latestObservation { id } } } }",
        "operationName": "MetricsOk",
    }
    for _ in range(3):
        assert "errors" not in (await client.post("/graphql", json=ok)).json()
    bad = await client.post(
        "/graphql", json={"query": "query MetricsBad { nope }", "operationName": "MetricsBad"}
    )
    assert bad.json()["errors"]
    ingest = {
        "query": "mutation MetricsIngest($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }",
        "variables": {
            "o": [
                {
                    "entityId": ENTITY,
                    "time": f"2026-01-01T00:00:0{i}Z",
                    "lon": 27.4,
                    "lat": 42.5,
                    "sourceType": "gps",
                }
                for i in range(4)
            ]
        },
        "operationName": "MetricsIngest",
    }
    assert (await client.post("/graphql", json=ingest)).json()["data"]["ingestObservations"]["accepted"] == 4
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    graphql = "atlas4d_graphql_request_duration_seconds_count"
    assert moved(graphql, operation="MetricsOk", outcome="ok") == 3
    assert moved(graphql, operation="MetricsBad", outcome="refused") == 1
    assert moved(graphql, operation="MetricsIngest", outcome="ok") == 1
    assert moved("atlas4d_sql_duration_seconds_count", outcome="ok") >= 4
    assert moved("atlas4d_sql_duration_seconds_sum", outcome="ok") > 0
    # one batch of one key per request for latestObservation (the page itself is compiled or one statement)
    assert moved("atlas4d_dataloader_batch_size_count", loader="latest_observation") in (0, 3)
    assert moved("atlas4d_ingest_rows_total", source="all") == 4
    assert value(after, "atlas4d_db_pool_connections", state="max") == 8
    http = "atlas4d_http_request_duration_seconds_count"
    assert moved(http, route="/graphql", method="POST", status="2xx") >= 4
    # every series the Grafana dashboard plots is one /metrics serves
    dashboard = (ROOT / "deploy/grafana/atlas4d.json").read_text()
    plotted = {
        re.sub(r"_(bucket|count|sum|total)$", "", n) for n in re.findall(r"atlas4d_[a-z_]+", dashboard)
    }
    served = {f.name for f in text_string_to_metric_families(response.text)}
    assert plotted - {"atlas4d_gateway"} <= served and len(plotted) >= 9, plotted - served


REFUSE_AT_COMMIT = """
CREATE FUNCTION public.refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON atlas4d.observations_core
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.refuse_at_commit();
"""


async def test_ingest_rows_count_only_committed_writes(
    client: httpx.AsyncClient, clean_db: asyncpg.Pool
) -> None:
    """`atlas4d_ingest_rows_total` counts stored rows: a write that fails at COMMIT (a deferred constraint
    trigger refuses it, after every statement of the write succeeded) through the mutation, bulk ingest and REST
    `POST /api/observations` moves neither the table nor the counter; the same writes without it move both."""
    mutation = "mutation CommitIngest($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
    points = [
        {"entityId": ENTITY, "time": f"2026-01-02T00:00:0{i}Z", "lon": 27.4, "lat": 42.5} for i in range(3)
    ]
    lines = "".join(json.dumps(p) + "\n" for p in points[:2])

    rest = [{"lat": 42.5, "lon": 27.4, "entity_id": ENTITY, "t": "2026-01-03T00:00:00Z"}]

    async def write() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        answer = await client.post("/graphql", json={"query": mutation, "variables": {"o": points}})
        bulk = await client.post(
            "/ingest/observations", content=lines, headers={"Content-Type": "application/x-ndjson"}
        )
        return answer, bulk, await client.post("/api/observations", json=rest)

    async def counted() -> float:
        return value(samples((await client.get("/metrics")).text), "atlas4d_ingest_rows_total", source="all")

    before = await counted()
    await clean_db.execute(REFUSE_AT_COMMIT)
    try:
        answer, bulk, posted = await write()
    finally:
        await clean_db.execute("DROP TRIGGER refuse_at_commit ON atlas4d.observations_core")
        await clean_db.execute("DROP FUNCTION public.refuse_at_commit()")
    assert answer.json()["errors"] and bulk.status_code >= 400 and posted.status_code >= 400, (
        answer.text,
        bulk.text,
    )
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0
    assert await counted() == before
    answer, bulk, posted = await write()
    assert answer.json()["data"]["ingestObservations"]["accepted"] == 3 and bulk.status_code == 200, bulk.text
    assert posted.status_code == 200, posted.text
    assert await counted() == before + 6


async def test_loader_batch_sizes(client: httpx.AsyncClient, clean_db: asyncpg.Pool) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    await clean_db.executemany(
        "INSERT INTO atlas4d.entities (id, kind, name) VALUES ($1, 'vessel', $2)", [(i, str(i)) for i in ids]
    )
    before = samples((await client.get("/metrics")).text)
    query = "query Batched { entities { nodes { id anomalies: latestObservation { id } } } }"
    assert "errors" not in (await client.post("/graphql", json={"query": query})).json()
    after = samples((await client.get("/metrics")).text)
    count = "atlas4d_dataloader_batch_size_count"
    total = "atlas4d_dataloader_batch_size_sum"
    if value(after, count, loader="latest_observation") == value(before, count, loader="latest_observation"):
        pytest.fail("latestObservation did not go through its DataLoader")
    assert (
        value(after, total, loader="latest_observation") - value(before, total, loader="latest_observation")
        == 5
    )


_PROVIDERS: list[Any] = []  # OpenTelemetry takes one provider per process


@pytest.fixture
def traced() -> Iterator[Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if not _PROVIDERS:
        _PROVIDERS.append(TracerProvider())
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    _PROVIDERS[0].add_span_processor(processor)
    tracing.install(_PROVIDERS[0])
    try:
        yield exporter
    finally:
        tracing.uninstall()  # the rest of the suite runs untraced
        exporter.clear()
        processor.shutdown()


class HeaderRecorder:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/graphql":
            self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


@pytest.fixture
async def remote_core(
    settings: Settings, database_url: str, traced: Any
) -> AsyncIterator[tuple[str, HeaderRecorder]]:
    """`create_app(subgraph="core")` on a real socket (uvicorn in this event loop)."""
    app = create_app(settings, dsn=database_url, modules=[], subgraph="core")
    recorder = HeaderRecorder(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(recorder, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn's Server offers no event to wait on)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/graphql", recorder
    finally:
        server.should_exit = True
        await task


def _gateway_app(url: str) -> Starlette:
    sdl = subgraph_sdl(local_schemas([])["core"])
    supergraph = compose([SubgraphSource("core", url, sdl)])
    return create_gateway_app(loader=lambda: Gateway.from_supergraph(supergraph))


async def test_trace_from_client_to_sql_through_a_remote_subgraph(
    remote_core: tuple[str, HeaderRecorder], traced: Any, clean_db: asyncpg.Pool
) -> None:
    url, recorder = remote_core
    await clean_db.execute(
        "INSERT INTO atlas4d.entities (id, kind, name) VALUES (gen_random_uuid(), 'vehicle', 't')"
    )
    client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    gateway = _gateway_app(url)
    async with (
        gateway.router.lifespan_context(gateway),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway") as client,
    ):
        before = samples((await client.get("/metrics")).text)
        answer = await client.post(
            "/graphql",
            json={"query": "query Traced { entities { nodes { name } } }", "operationName": "Traced"},
            headers={"traceparent": f"00-{client_trace}-{client_span}-01"},
        )
        after = samples((await client.get("/metrics")).text)
    assert answer.json() == {"data": {"entities": {"nodes": [{"name": "t"}]}}}
    fetch_count = "atlas4d_subgraph_fetch_duration_seconds_count"
    labels = {"subgraph": "core", "transport": "http", "outcome": "ok"}
    assert value(after, fetch_count, **labels) - value(before, fetch_count, **labels) == 1

    spans = {s.context.span_id: s for s in traced.get_finished_spans()}
    in_trace = [s for s in spans.values() if format(s.context.trace_id, "032x") == client_trace]

    def parent(s: Any) -> Any:
        return spans.get(s.parent.span_id) if s.parent is not None else None

    def chain(s: Any) -> list[str]:
        names = [s.name]
        while (s := parent(s)) is not None:
            names.append(s.name)
        return names[::-1]

    (fetch,) = [s for s in in_trace if s.name == "fetch core"]
    # the subgraph saw our W3C traceparent: same trace, parent = the gateway's fetch span
    (sent,) = [h["traceparent"] for h in recorder.seen]
    assert sent == f"00-{client_trace}-{format(fetch.context.span_id, '016x')}-01"
    (sql,) = [
        s
        for s in in_trace
        if s.attributes.get("db.system") == "postgresql"
        and "atlas4d.entities" in s.attributes["db.statement"]
    ]
    assert chain(sql)[:5] == [
        "POST /graphql",
        "graphql.operation",
        "fetch core",
        "POST /graphql",
        "graphql.operation",
    ]
    assert sql.name == "SELECT" and sql.end_time >= sql.start_time
    root = next(s for s in in_trace if s.name == "POST /graphql" and parent(s) is None)
    assert format(root.parent.span_id, "016x") == client_span  # joined the client's trace
    assert "plan" in [
        spans[c].name
        for c in spans
        if parent(spans[c]) is not None
        and parent(spans[c]).name == "graphql.operation"
        and parent(parent(spans[c])) is root
    ]


async def test_json_logs_carry_request_and_trace_ids(traced: Any) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    logger = logging.getLogger("atlas4d.federation")
    logger.addHandler(handler)
    gateway = _gateway_app(
        f"http://127.0.0.1:{free_port()}/graphql"
    )  # nothing listens: the fetch fails, logged
    try:
        async with (
            gateway.router.lifespan_context(gateway),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway), base_url="http://gateway"
            ) as client,
        ):
            answer = await client.post("/graphql", json={"query": "{ entities { nodes { id } } }"})
    finally:
        logger.removeHandler(handler)
    assert answer.json()["errors"][0]["extensions"]["code"] == "SUBGRAPH_UNAVAILABLE"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    line = next(x for x in lines if "SUBGRAPH_UNAVAILABLE" in x["event"])
    assert line["level"] == "warning" and line["logger"] == "atlas4d.federation"
    assert line["request_id"] == answer.headers["x-request-id"]
    (root,) = [s for s in traced.get_finished_spans() if s.name == "POST /graphql"]
    assert line["trace_id"] == format(root.context.trace_id, "032x") and len(line["span_id"]) == 16


def test_metrics_add_up_across_uvicorn_workers(database_url: str, tmp_path: Path) -> None:
    """`atlas4d serve --workers 2`: each scrape reaches one worker and reports both workers' requests."""
    port = free_port()
    env = {
        **os.environ,
        "ATLAS4D_DATABASE_URL": database_url,
        "ATLAS4D_PORT": str(port),
        "ATLAS4D_WORKERS": "2",
        "ATLAS4D_GC_FREEZE": "false",
        "ATLAS4D_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    server = subprocess.Popen(
        [str(ATLAS4D), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(900):
                if server.poll() is not None:
                    raise AssertionError(server.stderr.read().decode()[-3000:] if server.stderr else "")
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            query = {
                "query": "query Workers { entities(first: 1) { nodes { id } } }",
                "operationName": "Workers",
            }
            folder = tmp_path / "metrics"
            sent = 0
            # new connections until both workers have answered some (the kernel picks the worker per connection)
            while sent < 40 or len({p.name for p in folder.glob("histogram_*.db")}) < 2:
                assert sent < 1000, "one worker answered every connection"
                with httpx.Client(base_url=base, timeout=10) as one:
                    assert one.post("/graphql", json=query).status_code == 200
                sent += 1
            scrapes = []
            for _ in range(6):
                with httpx.Client(base_url=base, timeout=10) as one:
                    scraped = samples(one.get("/metrics").text)
                scrapes.append(
                    value(
                        scraped,
                        "atlas4d_graphql_request_duration_seconds_count",
                        operation="Workers",
                        outcome="ok",
                    )
                )
        assert scrapes == [float(sent)] * 6  # whichever worker answered the scrape
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        logs = server.stderr.read().decode() if server.stderr else ""
        if server.stderr is not None:
            server.stderr.close()
    started = [json.loads(line) for line in logs.splitlines() if line.startswith('{"')]  # not the banner
    startup = [line for line in started if "Application startup complete" in line["event"]]
    assert startup, logs[-2000:]
    assert startup[0]["logger"] == "uvicorn" and startup[0]["level"] == "info"  # not `uvicorn.error`
    # no access log line per request (each worker configures logging again after uvicorn turned it off)
    assert not [line for line in started if line["logger"] == "uvicorn.access"], logs[-2000:]
