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


# --- single connection mode (sse_single.py) ---------------------------------------------------------------

TOKEN = "x-graphql-event-stream-token"


async def post_operation(
    http: httpx.AsyncClient, token: str, operation_id: str, query: str, variables: Any = None
) -> httpx.Response:
    body = {"query": query, "variables": variables, "extensions": {"operationId": operation_id}}
    return await http.post("/graphql", json=body, headers={TOKEN: token})


async def test_single_connection_mode_carries_several_operations_on_one_stream(
    server: str, pool: asyncpg.Pool
) -> None:
    car, bus = uuid.uuid4(), uuid.uuid4()
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        reserved = await http.put("/graphql")
        assert reserved.status_code == 201 and reserved.headers["content-type"].startswith("text/plain")
        token = reserved.text
        # an operation posted before the stream opens waits in the reservation's queue
        r = await post_operation(http, token, "car", LIVE, {"f": {"entityIds": [str(car)]}})
        assert r.status_code == 202, r.text
        await insert(pool, car, [27.1])
        async with http.stream("GET", "/graphql", headers={**SSE, TOKEN: token}) as stream:
            assert stream.status_code == 200
            again = await http.get("/graphql", headers={**SSE, TOKEN: token})
            assert again.status_code == 409 and again.json()["errors"][0]["extensions"]["code"] == (
                "STREAM_CONFLICT"
            )
            got = events(stream.aiter_lines())
            event, data = await anext(got)
            assert event == "next" and orjson.loads(data)["id"] == "car"
            assert orjson.loads(data)["payload"]["data"]["observationAdded"]["lon"] == 27.1
            assert (
                await post_operation(http, token, "bus", LIVE, {"f": {"entityIds": [str(bus)]}})
            ).status_code == 202
            dup = await post_operation(http, token, "bus", LIVE)
            assert (
                dup.status_code == 409 and dup.json()["errors"][0]["extensions"]["code"] == "STREAM_CONFLICT"
            )
            bad = await post_operation(http, token, "bad", "subscription { observationAdded { nope } }")
            assert bad.status_code == 400
            assert bad.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            await insert(pool, bus, [27.2])
            await insert(pool, car, [27.3])
            seen = [
                (orjson.loads(d)["id"], orjson.loads(d)["payload"])
                for _, d in [await anext(got), await anext(got)]
            ]
            assert [(op, p["data"]["observationAdded"]["lon"]) for op, p in seen] == [
                ("bus", 27.2),
                ("car", 27.3),
            ]
            # stop one operation: the other goes on; a query runs once on the stream
            assert (
                await http.delete("/graphql", params={"operationId": "car"}, headers={TOKEN: token})
            ).status_code == 200
            assert (await post_operation(http, token, "q", "{ __typename }")).status_code == 202
            assert [await anext(got), await anext(got)] == [
                ("next", '{"id":"q","payload":{"data":{"__typename":"Query"}}}'),
                ("complete", '{"id":"q"}'),
            ]
            await insert(pool, car, [27.4])
            await insert(pool, bus, [27.5])
            event, data = await anext(got)
            assert orjson.loads(data)["id"] == "bus"  # nothing more for the stopped operation
            assert orjson.loads(data)["payload"]["data"]["observationAdded"]["lon"] == 27.5
        # the stream is closed: once the server has seen it go, the token is void
        for _ in range(200):
            gone = await post_operation(http, token, "late", "{ __typename }")
            if gone.status_code == 404:
                break
            await asyncio.sleep(0.05)
        assert (
            gone.status_code == 404 and gone.json()["errors"][0]["extensions"]["code"] == "STREAM_NOT_FOUND"
        )
        for refused in (
            await http.post("/graphql", json={"query": "{ __typename }"}, headers={TOKEN: "made-up"}),
            await http.delete("/graphql", params={"operationId": "x"}),
        ):
            assert refused.status_code == 404, refused.text


@pytest.mark.npm
async def test_graphql_sse_client_single_connection_mode(server: str, pool: asyncpg.Pool) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    args = [
        str(JS / "graphql-sse-single.mjs"),
        server + "/graphql",
        json.dumps({"f": {"bbox": BOX, "entityIds": [str(a)]}}),
        json.dumps({"f": {"bbox": BOX, "entityIds": [str(b)]}}),
    ]
    process = await asyncio.create_subprocess_exec(
        "node", *args, cwd=JS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    lines: list[dict[str, Any]] = []

    async def until(key: str) -> None:
        assert process.stdout is not None
        while not any(key in line for line in lines):
            raw = await asyncio.wait_for(process.stdout.readline(), 60)
            assert raw, "the client ended early"
            lines.append(json.loads(raw))

    try:
        await until("ready")
        await insert(pool, a, [27.1, 27.2])  # A's two events: the client then stops A (DELETE)
        await insert(pool, b, [27.3])
        await until("stopped")
        await insert(pool, a, [27.4])  # A is stopped: never delivered
        await insert(pool, b, [27.5])
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    lines += [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert [line for line in lines if "stream" in line] == [{"stream": "opened", "status": 200}]  # one stream
    assert {"stopped": "A", "status": 200} in lines
    by_op: dict[str, list[Any]] = {}
    for line in lines:
        if "op" in line:
            assert line.get("errors") is None, line
            by_op.setdefault(line["op"], []).append(line["data"])
    assert [e["observationAdded"]["lon"] for e in by_op["A"]] == [27.1, 27.2]
    assert [e["observationAdded"]["lon"] for e in by_op["B"]] == [27.3, 27.5]
    assert by_op["Q"] == [{"__typename": "Query"}]


async def test_single_connection_slow_reader_gets_its_error_and_bounded_events(
    database_url: str, pool: asyncpg.Pool
) -> None:
    """A stream that falls behind (here: not opened while its subscription's events pile up) holds at most its
    queue plus one batch; its operation then gets `SLOW_CONSUMER` and `complete`, and the stream ends."""
    entity = uuid.uuid4()
    with in_process(database_url, stream_queue_size="3") as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            token = (await http.put("/graphql")).text
            r = await post_operation(http, token, "slow", LIVE, {"f": {"entityIds": [str(entity)]}})
            assert r.status_code == 202

            async def alive() -> bool:  # DELETE of no operation: 200 while the reservation runs
                r = await http.delete("/graphql", params={"operationId": "none"}, headers={TOKEN: token})
                return r.status_code == 200

            written = 0
            while await alive() and written < 500:  # one statement at a time until the queue overflows
                await insert(pool, entity, [27.0 + written / 1000])
                written += 1
            for _ in range(400):  # the last rows' batch may still be on its way
                if not await alive():
                    break
                await asyncio.sleep(0.05)
            assert not await alive(), "the reservation never overflowed"
            async with http.stream("GET", "/graphql", headers={**SSE, TOKEN: token}) as stream:
                assert stream.status_code == 200  # ended before it was opened: it still tells why
                got = [pair async for pair in events(stream.aiter_lines())]
            assert not await alive()  # spent
    delivered = [orjson.loads(d) for e, d in got[:-2]]
    # bounded: the queue (3) and the batch that found it full at most; the first rows, in order
    assert 3 <= len(delivered) < written and all(e == "next" for e, _ in got[:-2])
    assert [m["payload"]["data"]["observationAdded"]["lon"] for m in delivered] == [
        27.0 + i / 1000 for i in range(len(delivered))
    ]
    (last, last_data), (end, end_data) = got[-2:]
    assert last == "next" and orjson.loads(last_data)["id"] == "slow"
    assert orjson.loads(last_data)["payload"]["errors"][0]["extensions"]["code"] == "SLOW_CONSUMER"
    assert (end, orjson.loads(end_data)) == ("complete", {"id": "slow"})
