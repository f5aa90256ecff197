"""A fuzz pass over the live schema (issue 12, Deliver 8): random operations on the gateway and on every
subgraph (tests/opgen.py walks the schemas, so new fields are fuzzed without changes here), the same
operations corrupted character by character, random request bodies, mutations with hostile variables, and random
REST and bulk requests — through ASGI against the whole app on a seeded database. Whatever is sent: never a
5xx, never `INTERNAL`, and no internal text (SQL, driver names, DSNs, tracebacks) in any answer.
Sized to ~30 s (`ATLAS4D_FUZZ_EXAMPLES`, default 300; derandomized, so CI sees the same requests)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas4d.app import create_app
from atlas4d.core.schema import build_core_schema
from atlas4d.modules.registry import discover
from atlas4d.modules.serving import graphql_schema_of
from atlas4d.platform import build_gateway
from atlas4d.settings import Settings
from opgen import Operation, Values

EXAMPLES = int(os.environ.get("ATLAS4D_FUZZ_EXAMPLES", "300"))
HOSTILE = [
    "\u0000",
    "a\u0000b",
    "'; DROP TABLE atlas4d.entities; --",
    "%s%n",
    "\\",
    '"',
    "\U0001d518\U0001d52b",  # outside the BMP
    "x" * 5000,
    "1e309",
    "NaN",
    "-0",
    "9" * 40,
    "",
    " ",
    "<script>",
]
# what must never reach a client
LEAKS = re.compile(
    r"Traceback|File \"|asyncpg|psycopg|postgres(ql)?://|\bSELECT\b|\bINSERT INTO\b|\bFROM atlas4d\.|"
    r"GEOSException|ParseException|IllegalArgumentException|json\.exception|KeyError|AttributeError|TypeError:"
)
CORRUPTION = st.sampled_from([*'{}()[]:$@!"\\.#,=|&\n\t\u0000ü', "...", "on", "fragment", "query", "__"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(HOSTILE),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["id", "kind", "x", "__typename"]), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
MUTATIONS = [
    "mutation($e: [EntityInput!]!) { createEntities(entities: $e) { id } }",
    "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }",
    "mutation($a: [AnomalyInput!]!) { recordAnomalies(anomalies: $a) { id } }",
]
REST_PATHS = ["/api/observations", "/api/anomalies", "/api/observations/geojson", "/api/stats", "/health"]
REST_PARAMS = [
    "lat",
    "lon",
    "radius_km",
    "limit",
    "hours",
    "source_type",
    "severity_min",
    "anomaly_type",
    "bbox",
]


class World:
    def __init__(self, client: httpx.AsyncClient, schemas: dict[str, Any], values: Values) -> None:
        self.client = client
        self.schemas = schemas
        self.values = values


@pytest.fixture(scope="module")
async def world(database_url: str) -> AsyncIterator[World]:
    modules = [d.module for d in discover().values()]
    settings = Settings(database_url=None, gc_freeze=False, pool_min_size=1, pool_max_size=4)
    app = create_app(settings, dsn=database_url, modules=modules)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        seed = await client.post(
            "/graphql",
            json={
                "query": MUTATIONS[1],
                "variables": {
                    "o": [
                        {
                            "time": f"2026-01-0{d}T00:00:00Z",
                            "lon": 27.5,
                            "lat": 42.5,
                            "entityId": f"00000000-0000-4000-8000-00000000000{d % 2}",
                            "entityKind": "vehicle",
                        }
                        for d in range(1, 6)
                    ]
                },
            },
        )
        assert "errors" not in seed.json(), seed.text
        ids = (await client.post("/graphql", json={"query": "{ entities { nodes { id } } }"})).json()
        entity_ids = [n["id"] for n in ids["data"]["entities"]["nodes"]]
        schemas = {"/graphql": build_gateway(settings, modules).supergraph.api_schema}
        schemas["/subgraphs/core/graphql"] = graphql_schema_of(build_core_schema())
        for m in modules:
            schemas[f"/subgraphs/{m.name}/graphql"] = graphql_schema_of(m.subgraph())
        representations = [
            {"__typename": "Entity", "id": entity_ids[0]},
            {"__typename": "Entity"},
            {"__typename": "Nope", "id": "x"},
            {"id": entity_ids[0]},
        ]
        values = Values(entity_ids + HOSTILE[:4], HOSTILE, ["2026-01-01T00:00:00Z"], representations)
        yield World(client, schemas, values)


def corrupt(text: str, data: st.DataObject) -> str:
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        if data.draw(st.booleans(), label="delete"):
            text = text[:at] + text[at + data.draw(st.integers(1, 8), label="n") :]
        else:
            text = text[:at] + data.draw(CORRUPTION, label="insert") + text[at:]
    return text


async def send(world: World, data: st.DataObject) -> httpx.Response:
    mode = data.draw(st.sampled_from(["valid"] * 4 + ["corrupt"] * 2 + ["body", "mutation", "rest", "bulk"]))
    client = world.client
    if mode in ("valid", "corrupt"):
        path = data.draw(st.sampled_from(sorted(world.schemas)), label="path")
        text, variables = Operation(world.schemas[path], world.values, data.draw).text()
        if mode == "corrupt":
            text = corrupt(text, data)
        if data.draw(st.booleans(), label="hostile variables") and variables:
            name = data.draw(st.sampled_from(sorted(variables)), label="variable")
            variables[name] = data.draw(JSON, label="value")
        if data.draw(st.integers(0, 9), label="get") == 0:
            params = {"query": text, "variables": json.dumps(variables)}
            return await client.get(path, params=params)
        return await client.post(path, json={"query": text, "variables": variables})
    if mode == "body":
        body = data.draw(
            st.dictionaries(st.sampled_from(["query", "variables", "operationName", "extensions"]), JSON)
        )
        path = data.draw(st.sampled_from(sorted(world.schemas)), label="path")
        return await client.post(path, json=body)
    if mode == "mutation":
        query = data.draw(st.sampled_from(MUTATIONS), label="mutation")
        items = data.draw(st.lists(JSON, min_size=1, max_size=3), label="items")
        name = query.split("$")[1].split(":")[0]
        return await client.post("/graphql", json={"query": query, "variables": {name: items}})
    if mode == "rest":
        path = data.draw(st.sampled_from(REST_PATHS), label="rest path")
        params = data.draw(
            st.dictionaries(st.sampled_from(REST_PARAMS), st.sampled_from([*HOSTILE, "1", "-5", "1e3"]))
        )
        if data.draw(st.booleans(), label="post") and path == "/api/observations":
            return await client.post(path, json=data.draw(JSON, label="rest body"))
        return await client.get(path, params=params)
    lines = data.draw(st.lists(JSON, min_size=1, max_size=4), label="lines")
    body = "\n".join(json.dumps(line) for line in lines).encode()
    content_type = data.draw(st.sampled_from(["application/x-ndjson", "text/csv"]), label="bulk type")
    return await client.post("/ingest/observations", content=body, headers={"content-type": content_type})


@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
@given(data=st.data())
async def test_nothing_sent_gets_a_5xx_or_internal_text(world: World, data: st.DataObject) -> None:
    response = await send(world, data)
    assert response.status_code < 500, (response.status_code, response.text[:500])
    found = LEAKS.search(response.text)
    assert found is None, (found.group(0) if found else None, response.text[:500])
    if response.headers.get("content-type", "").startswith("application/"):
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        for error in errors or []:
            assert error.get("extensions", {}).get("code") not in (None, "INTERNAL"), error
        rest = body.get("error") if isinstance(body, dict) else None
        if isinstance(rest, dict):
            assert rest.get("code") not in (None, "INTERNAL"), rest
