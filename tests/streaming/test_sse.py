"""GraphQL over Server-Sent Events (graphql-sse, distinct connections mode) on a real `atlas4d serve`, at /graphql
and /subgraphs/core/graphql: events matching the filter from a raw HTTP client and from the `graphql-sse` npm
client; request errors as `next` + `complete`; queries once; no request deadline on a stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from live_server import in_process

JS = Path(__file__).resolve().parents[1] / "js"
BOX = {"minLon": 27.0, "minLat": 42.0, "maxLon": 28.0, "maxLat": 43.0}
LIVE = "subscription($f: ObservationFilter) { observationAdded(filter: $f) { id lon entity { kind } } }"
SSE = {"accept": "text/event-stream"}


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with in_process(database_url, request_timeout_ms="1000") as base:  # streams outlive the request deadline
        yield base


async def events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of an event stream; comment lines skipped."""
    event, data = "", ""
    async for line in lines:
        if line.startswith(":"):
            continue
        if line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data = line.partition(":")[2].strip()
        elif line == "" and event:
            yield event, data
            event, data = "", ""


async def insert(pool: asyncpg.Pool, entity: uuid.UUID, lons: list[float]) -> None:
    for i, lon in enumerate(lons):
        await pool.execute(
            "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, entity_id) VALUES "
            "(now() + $1 * interval '1 s', $2, 42.5, ST_SetSRID(ST_MakePoint($2, 42.5), 4326), $3)",
            i,
            lon,
            entity,
        )


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/core/graphql"])
async def test_a_stream_delivers_matching_rows_past_the_request_deadline(
    server: str, pool: asyncpg.Pool, path: str
) -> None:
    entity = uuid.uuid4()
    await pool.execute("INSERT INTO atlas4d.entities (id, kind) VALUES ($1, 'ferry')", entity)
    body = {"query": LIVE, "variables": {"f": {"bbox": BOX, "entityIds": [str(entity)]}}}
    async with (
        httpx.AsyncClient(base_url=server, timeout=30) as http,
        http.stream("POST", path, json=body, headers=SSE) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        assert await anext(lines) == ":"  # attached: rows committed from now on are delivered
        await asyncio.sleep(1.2)  # past ATLAS4D_REQUEST_TIMEOUT_MS
        await insert(pool, entity, [27.1, 31.0, 27.2])  # the second is outside the box
        got = []
        async for event, data in events(lines):
            assert event == "next"
            got.append(orjson.loads(data)["data"]["observationAdded"])
            if len(got) == 2:
                break
    assert [(e["lon"], e["entity"]["kind"]) for e in got] == [(27.1, "ferry"), (27.2, "ferry")]


async def answer(http: httpx.AsyncClient, method: str, **kwargs: Any) -> list[tuple[str, str]]:
    async with http.stream(method, "/graphql", headers=SSE, **kwargs) as response:
        assert response.status_code == 200
        return [e async for e in events(response.aiter_lines())]


async def test_errors_and_queries_are_one_next_then_complete(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        bad = {"f": {"bbox": {"minLon": 0, "minLat": 50, "maxLon": 1, "maxLat": 40}}}
        (first, last) = await answer(http, "POST", json={"query": LIVE, "variables": bad})
        assert first[0] == "next" and orjson.loads(first[1])["errors"][0]["extensions"]["code"] == "BAD_BBOX"
        assert last == ("complete", "")
        (first, last) = await answer(http, "POST", json={"query": "subscription { nope }"})
        assert orjson.loads(first[1])["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        (first, last) = await answer(http, "POST", content=b"{not json")
        assert orjson.loads(first[1])["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        (first, last) = await answer(http, "GET", params={"query": "{ __typename }"})
        assert orjson.loads(first[1]) == {"data": {"__typename": "Query"}} and last == ("complete", "")
        # without Accept: text/event-stream the route is the plain HTTP face
        r = await http.post("/graphql", json={"query": "{ __typename }"})
        assert r.headers["content-type"].startswith("application/") and r.json()["data"]


@pytest.mark.npm
async def test_graphql_sse_client_receives_matching_observations(server: str, pool: asyncpg.Pool) -> None:
    entity = uuid.uuid4()
    await pool.execute("INSERT INTO atlas4d.entities (id, kind) VALUES ($1, 'tram')", entity)
    variables = json.dumps({"f": {"bbox": BOX, "entityIds": [str(entity)]}})
    args = [str(JS / "graphql-sse-client.mjs"), server + "/graphql", "2", variables]
    process = await asyncio.create_subprocess_exec(
        "node", *args, cwd=JS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        ready = await asyncio.wait_for(process.stdout.readline(), 60)
        assert ready.decode().strip() == "ready"
        await insert(pool, entity, [27.4, 29.0, 27.5])
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    got = [json.loads(line)["data"]["observationAdded"] for line in out.decode().splitlines() if line.strip()]
    assert [(e["lon"], e["entity"]) for e in got] == [(27.4, {"kind": "tram"}), (27.5, {"kind": "tram"})]
