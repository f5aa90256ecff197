"""Differential test: every fast path answers exactly what graphql-core's stock executor answers.

Random valid operations (`opgen.py`: aliases, same-key fields, fragments, @skip/@include, variables with and
without defaults, nulls, abstract types, bad values) over the core and module subgraph schemas and the
gateway's API schema, against seeded data with nulls and edge values (NaN and infinite floats, an
observation without geometry, JSON and texts with quotes, unicode and control characters, entities that do
not exist). Each operation runs through:

- stock: graphql-core's `execute` (IncrementalExecutor) on the subgraph's schema — the oracle;
- the FastExecutor on the same schema;
- HTTP `/subgraphs/<name>/graphql` (for core with the compiled pages);
- for API operations: HTTP `/graphql` (the platform: the single-subgraph shortcut, compiled pages, or the
  planner), the gateway's planner in-process with the shortcut off, and the gateway with every subgraph
  called over HTTP; their oracle is stock execution on the subgraph whose schema the document fits, if any.

Data must be identical; errors identical up to order (the spec does not order them), the request id of a
masked error, and `serviceName`; the gateway's planned paths also drop locations (they point into the
subgraph's document, as in Apollo Router). `ATLAS4D_DIFFERENTIAL_EXAMPLES` sets the number of operations
(`make nightly` runs thousands; `make test` a size that keeps the suite short).
"""

from __future__ import annotations

import asyncio
import difflib
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import uvicorn
from graphql import GraphQLSchema, execute, parse, specified_rules, validate
from graphql.execution.incremental import IncrementalExecutor
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st

from atlas4d.app import create_app
from atlas4d.core.compiled import CompiledPages
from atlas4d.core.context import Context
from atlas4d.core.ingest import EntityItem, ObservationItem, create_entities, ingest_observations
from atlas4d.db.migrate import load_migrations, migrate
from atlas4d.federation.gateway import Gateway
from atlas4d.modules.airspace import module as airspace
from atlas4d.modules.mobility import module as mobility
from atlas4d.modules.representations import check_representations
from atlas4d.modules.serving import graphql_schema_of, loader_factories
from atlas4d.modules.telecom import module as telecom
from atlas4d.modules.vision import module as vision
from atlas4d.platform import build_gateway, local_schemas
from atlas4d.settings import Settings
from atlas4d.web.cost_model import cost_model_from_sdl
from atlas4d.web.fast_executor import FastExecutor
from atlas4d.web.graphql_http import format_result
from atlas4d.web.guard import OperationGuard
from opgen import Operation, Values

MODULES = [airspace, mobility, telecom, vision]
EXAMPLES = int(os.environ.get("ATLAS4D_DIFFERENTIAL_EXAMPLES", "120"))
END = datetime(2026, 6, 2, tzinfo=UTC)
T0 = datetime(2026, 6, 1, tzinfo=UTC)
REQUEST_ID = "differential"
# ATLAS4D_DIFFERENTIAL_SHRINK=0 reports the first failing operation as drawn (shrinking a slow test can take
# minutes)
# the planner's error lists compared with stock too (`make nightly`); `make test` compares its data with stock and
# its two paths (in-process, over HTTP) with each other: error paths and null propagation across subgraphs are
# issue 16's (fed-planner), which found them differing, e.g. an extra "Cannot return null" for a field the
# subgraph's own null propagation had already nulled
PLANNER_ERRORS = os.environ.get("ATLAS4D_DIFFERENTIAL_PLANNER_ERRORS") == "1"
PHASES = [p for p in Phase if p is not Phase.shrink or os.environ.get("ATLAS4D_DIFFERENTIAL_SHRINK") != "0"]


@dataclass
class World:
    settings: Settings
    pool: asyncpg.Pool
    client: httpx.AsyncClient
    schemas: dict[str, GraphQLSchema]
    api: GraphQLSchema
    planned: Gateway
    remote: Gateway
    values: Values
    guards: dict[str, OperationGuard]

    def context(self) -> Context:
        return Context.create(self.pool, self.settings, REQUEST_ID, loader_factories(MODULES))


async def seed(pool: asyncpg.Pool) -> None:
    """Module data (each module's own seed) and core rows with edge values."""
    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks, atlas4d.anomalies"
        )
        for module in MODULES:
            assert module.migrations is not None and module.seed is not None
            await migrate(conn, load_migrations(module.name, module.migrations))
            await module.seed(conn, 3, end=END)
    names = ["bus 7", 'quote " and \\ backslash', "ünïcödé ✓", "new\nline\ttab", ""]
    entities = [
        EntityItem(kind=("bus", "car", "vessel")[i % 3], id=str(uuid.UUID(int=i + 1)), name=names[i % len(names)],
                   source_type=("gps", None)[i % 2], properties=[{"n": i}, {}, {"deep": {"a": [1, 2.5, None]}}][i % 3])
        for i in range(12)
    ]  # fmt: skip
    await create_entities(pool, entities, max_batch=100, on_conflict="update")
    items = [
        ObservationItem(
            time=T0 + timedelta(seconds=37 * i, microseconds=(i * 7919) % 1_000_000 if i % 3 else 0),
            lon=27.2 + (i % 41) * 0.017, lat=42.2 + (i % 37) * 0.016,
            altitude=None if i % 4 == 0 else float(i % 9 * 120), speed=None if i % 5 == 0 else i % 17 * 1.5,
            heading=float(i % 360), source_type=("gps", "ais", None)[i % 3],
            entity_id=None if i % 11 == 0 else str(uuid.UUID(int=i % 14 + 1)),  # 13, 14: no such entity
            entity_kind="vehicle", track_id=str(uuid.UUID(int=500 + i % 6)) if i % 2 else None,
            metadata=[None, {"k": "v", "n": i}, {"q": 'a"b', "u": "é"}][i % 3],
        )
        for i in range(240)
    ]  # fmt: skip
    await ingest_observations(pool, items, max_batch=1000, copy_threshold=100)
    async with pool.acquire() as conn:  # what only another writer (or the Core Spec) could store
        await conn.execute(
            "DELETE FROM atlas4d.entities WHERE id = ANY($1::uuid[])", [uuid.UUID(int=13), uuid.UUID(int=14)]
        )
        await conn.execute(
            "INSERT INTO atlas4d.observations_core (t, geom, entity_id, altitude_m, speed_ms, heading_deg, "
            "source_type, metadata) VALUES "
            "($1, ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), $2, 'NaN', 'Infinity', '-Infinity', 'gps', NULL), "
            "($1 + interval '1 s', ST_SetSRID(ST_MakePoint(27.6, 42.6), 4326), $2, 'Infinity', 'NaN', 10, "
            "'ais', '{\"big\": 1e300}'), "
            "($1 + interval '2 s', NULL, $3, 5, 1, 1, 'gps', '{}')",
            END + timedelta(hours=1), uuid.UUID(int=2), uuid.UUID(int=3),  # the newest rows: on most pages
        )  # fmt: skip


async def unseed(pool: asyncpg.Pool) -> None:
    """Leave no module rows behind: other tests seed the modules with their own seed numbers."""
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname LIKE 'atlas4d\\_%'"
        )
        names = [r["t"] for r in tables] + ["atlas4d.observations_core", "atlas4d.entities", "atlas4d.tracks"]
        await conn.execute(f"TRUNCATE {', '.join(names)}")


async def values_of(pool: asyncpg.Pool) -> Values:
    """Ids and texts that exist: a few values of every id-like and kind-like column of our schemas."""
    columns = await pool.fetch(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema LIKE 'atlas4d%' AND (column_name = 'id' OR column_name LIKE '%\\_id' "
        "OR column_name IN ('kind', 'source_type', 'name', 'anomaly_type')) "
        "AND data_type IN ('uuid', 'bigint', 'text', 'integer') ORDER BY 1, 2, 3"
    )
    ids: set[str] = set()
    texts: set[str] = set()
    for c in columns:
        sql = (
            f'SELECT DISTINCT "{c["column_name"]}"::text AS v FROM "{c["table_schema"]}"."{c["table_name"]}" '
            f'WHERE "{c["column_name"]}" IS NOT NULL ORDER BY 1 LIMIT 3'
        )
        found = {r["v"] for r in await pool.fetch(sql)}
        (ids if c["column_name"] == "id" or c["column_name"].endswith("_id") else texts).update(found)
    representations = [
        {"__typename": "Entity", "id": str(uuid.UUID(int=1))},
        {"__typename": "Entity", "id": "x"},
    ]
    for type_name, table in (("Observation", "observations_core"), ("Track", "tracks")):
        for r in await pool.fetch(f"SELECT id::text FROM atlas4d.{table} ORDER BY id LIMIT 2"):
            representations.append({"__typename": type_name, "id": r["id"]})
    times = [(T0 + timedelta(minutes=m)).isoformat() for m in (0, 30, 150)] + [
        END.isoformat(),
        "2026-06-01T03:00:00+02:00",
    ]
    return Values(sorted(ids)[:60], sorted(texts)[:30], times, representations)


class Server:
    """The same app on a real uvicorn server in a thread (its own event loop and pool): the subgraphs the
    over-HTTP gateway calls."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


COMPILED: Counter[str] = Counter()  # how the compiled pages answered, over the whole run


def counting(answer: Any) -> Any:
    async def counted(self: CompiledPages, *args: Any) -> Any:
        planned = self.plan(*args[:3]) if self.settings.compiled_queries else None
        result = await answer(self, *args)
        if result is not None:
            COMPILED["fallback" if planned is not None and result.errors else "answered"] += 1
        return result

    return counted


@pytest.fixture(scope="module")
async def world(
    settings: Settings, database_url: str, pool: asyncpg.Pool, monkeypatch_module: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    monkeypatch_module.setattr(CompiledPages, "answer", counting(CompiledPages.answer))
    await seed(pool)
    app = create_app(settings, dsn=database_url, modules=MODULES)
    transport = httpx.ASGITransport(app=app)
    served = create_app(settings.model_copy(update={"pool_max_size": 4}), dsn=database_url, modules=MODULES)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        schemas = {name: graphql_schema_of(s) for name, s in local_schemas(MODULES).items()}
        for schema in schemas.values():
            check_representations(
                schema
            )  # as every subgraph route serves it: malformed ones are the caller's
        planned = build_gateway(settings, MODULES)
        for subgraph in planned.subgraphs.values():
            subgraph.passthrough = False  # type: ignore[attr-defined]  # always the planner's executor
        with Server(served) as base:
            urls = {n: f"{base}/subgraphs/{n}/graphql" for n in planned.subgraphs}
            remote = Gateway.from_supergraph(planned.supergraph, urls=urls)
            try:
                guards = {name: OperationGuard(schema, settings) for name, schema in schemas.items()}
                api = planned.supergraph.api_schema
                guards["api"] = OperationGuard(api, settings, cost_model_from_sdl(planned.supergraph.sdl))
                yield World(
                    settings, pool, client, schemas, api, planned, remote, await values_of(pool), guards
                )
            finally:
                await remote.aclose()
                await unseed(pool)


def normal(body: dict[str, Any], *, locations: bool = True) -> dict[str, Any]:
    """A response as compared: as JSON (a NaN inside a JSON scalar is written null, and is unequal to itself
    in Python), errors sorted, without what legitimately differs between paths."""
    body = orjson.loads(orjson.dumps(body))
    errors = []
    for error in body.get("errors") or []:
        error = dict(error)
        extensions = dict(error.get("extensions") or {})
        extensions.pop("serviceName", None)
        request_id = extensions.pop("requestId", None)
        if request_id:
            error["message"] = error["message"].replace(request_id, "…")
        error["extensions"] = extensions
        if not locations:
            error.pop("locations", None)
        errors.append(error)
    errors.sort(key=lambda e: orjson.dumps(e, option=orjson.OPT_SORT_KEYS))
    return {"data": body.get("data"), "errors": errors}


async def stock(
    world: World, schema: GraphQLSchema, text: str, variables: dict[str, Any], executor: Any
) -> dict[str, Any]:
    # a fresh copy, as a request's JSON would give: Strawberry's `_entities` resolver pops `__typename` from
    # the representations it is given
    variables = orjson.loads(orjson.dumps(variables))
    result = execute(
        schema, parse(text), context_value=world.context(), variable_values=variables, executor_class=executor
    )
    if not hasattr(result, "data"):
        result = await result
    return format_result(result, REQUEST_ID)  # type: ignore[arg-type]


async def post(world: World, path: str, text: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await world.client.post(path, json={"query": text, "variables": variables})
    body: dict[str, Any] = orjson.loads(response.content)
    return body


# "pages": core operations shaped like the compiled pages (one root `observations` or `entities`, `nodes`,
# mostly plain fields), with every variation of selection around them
TARGETS = ["pages"] * 5 + ["core"] * 4 + ["api"] * 4 + [m.name for m in MODULES]


@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True, phases=PHASES,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
@given(data=st.data())
async def test_every_path_answers_like_the_stock_executor(world: World, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(TARGETS), label="target")
    roots = ("observations", "entities") if target == "pages" else None
    target = "core" if target == "pages" else target
    schema = world.api if target == "api" else world.schemas[target]
    text, variables = Operation(schema, world.values, data.draw, roots=roots).text()
    document = parse(text)
    guard = world.guards[target]
    if guard.check_document(document) or validate(schema, document, specified_rules):
        reject()  # over a limit, or a literal its scalar refuses (bad values are still sent, as variables)
    if guard.check_request(None, document, None, variables):
        reject()  # over the cost limit: refused before execution (tests/security covers it)
    answers: dict[str, dict[str, Any]] = {}
    if target == "api":
        oracle = next((n for n, s in world.schemas.items() if not validate(s, document)), None)
        if oracle is not None:
            answers[f"stock on {oracle}"] = normal(
                await stock(world, world.schemas[oracle], text, variables, IncrementalExecutor)
            )
        answers["/graphql"] = normal(await post(world, "/graphql", text, variables))
        for name, gateway in (("planner in-process", world.planned), ("planner over HTTP", world.remote)):
            answer = await gateway.execute(text, orjson.loads(orjson.dumps(variables)), None, world.context())
            answers[name] = normal(answer, locations=False)
        if oracle is not None:  # the planned paths point locations into subgraph documents
            expected = normal(answers[f"stock on {oracle}"], locations=False)
            if not PLANNER_ERRORS:  # data only: the planner's error lists are issue 16's (see the docstring)
                expected = {"data": expected["data"]}
                for name in ("planner in-process", "planner over HTTP"):
                    answers[f"{name}, data"] = {"data": answers[name]["data"]}
            answers[f"stock on {oracle}, planned"] = expected
    else:
        answers["stock"] = normal(await stock(world, schema, text, variables, IncrementalExecutor))
        answers["FastExecutor"] = normal(await stock(world, schema, text, variables, FastExecutor))
        answers[f"/subgraphs/{target}/graphql"] = normal(
            await post(world, f"/subgraphs/{target}/graphql", text, variables)
        )
    check(text, variables, answers)


def check(text: str, variables: dict[str, Any], answers: dict[str, dict[str, Any]]) -> None:
    """Each group of comparable answers must be equal: the direct paths (with locations), the planner's two
    paths, and the planner's against the oracle's (without locations; data only unless PLANNER_ERRORS)."""
    direct = [k for k in answers if k in ("stock", "FastExecutor", "/graphql") or k.startswith("/subgraphs")]
    direct += [k for k in answers if k.startswith("stock on") and not k.endswith(", planned")]
    planner = [k for k in ("planner in-process", "planner over HTTP") if k in answers]
    planned = [k for k in answers if k.endswith(", planned")]
    planned += [k for k in answers if k.endswith(", data")] if not PLANNER_ERRORS else planner
    for group in (direct, planner, planned):
        for name in group[1:]:
            if answers[name] != answers[group[0]]:
                pretty = [
                    orjson.dumps(answers[n], option=orjson.OPT_INDENT_2).decode().splitlines()
                    for n in (group[0], name)
                ]
                diff = "\n".join(difflib.unified_diff(*pretty, group[0], name, lineterm="", n=2))
                pytest.fail(f"{name} differs from {group[0]}\n{text}\n{variables}\n{diff}")


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_fast_paths_were_exercised(world: World) -> None:
    """Not vacuous: the run above reached the compiled pages, and their completion by the stock executor
    (a NaN, an infinity or a null in a non-null field on a page)."""
    assert COMPILED["answered"] >= EXAMPLES // 20, COMPILED
    assert COMPILED["fallback"] >= 1, COMPILED
