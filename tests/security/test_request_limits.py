"""The request middleware (atlas4d.web.middleware): an x-request-id on every response, a body read timeout, and
a deadline / client disconnect that cancel the request's resolvers, its DataLoader batches and their SQL."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import uvicorn
from aiodataloader import DataLoader
from graphql import GraphQLField, GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from atlas4d.app import create_app
from atlas4d.settings import Settings
from atlas4d.web import deadline
from atlas4d.web.graphql_http import GraphQLEndpoint
from atlas4d.web.middleware import request_limits

Message = dict[str, Any]


async def test_every_response_has_a_request_id(client: httpx.AsyncClient) -> None:
    big = b'{"query": "{ __typename }", "x": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/graphql", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("POST", "/graphql", {"content": big, "headers": {"content-type": "application/json"}}),
        ("POST", "/graphql", {"content": b"query=x", "headers": {"content-type": "text/plain"}}),
        ("PATCH", "/graphql", {}),
        ("GET", "/no/such/route", {}),
        ("GET", "/api/observations?limit=abc", {}),
        ("GET", "/health", {}),
        ("POST", "/subgraphs/core/graphql", {"json": {"query": "{ nope }"}}),
    ]
    statuses = set()
    for method, path, kwargs in cases:
        response = await client.request(method, path, **kwargs)
        statuses.add(response.status_code)
        assert len(response.headers.get("x-request-id", "")) >= 8, (method, path, response.status_code)
        mine = await client.request(
            method, path, **{**kwargs, "headers": {**kwargs.get("headers", {}), "x-request-id": "trace-42"}}
        )
        assert mine.headers["x-request-id"] == "trace-42", (method, path)
        unsafe = await client.request(
            method, path, **{**kwargs, "headers": {**kwargs.get("headers", {}), "x-request-id": "a\tb"}}
        )
        assert unsafe.headers["x-request-id"] not in ("a\tb", "trace-42")
    assert {400, 404, 405, 413, 415} <= statuses


async def call_asgi(
    app: Any, scope: dict[str, Any], receive: Callable[[], Awaitable[Message]], limit: float = 10
) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), limit)
    return sent


def http_scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }


def stalling_client(first: bytes) -> Callable[[], Awaitable[Message]]:
    """Sends `first` as the start of a longer body, then nothing (a slowloris client)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": first, "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


def response_of(sent: list[Message]) -> tuple[int, dict[bytes, bytes], Any]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), orjson.loads(body)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/graphql", "application/json"), ("/api/observations", "application/json"),
     ("/ingest/observations", "application/x-ndjson")],
)  # fmt: skip
async def test_a_half_sent_body_is_answered_408(database_url: str, path: str, content_type: str) -> None:
    app = create_app(Settings(database_url=None, body_timeout_ms=300), dsn=database_url, modules=[])
    async with app.router.lifespan_context(app):
        headers = {"content-type": content_type, "content-length": "1000"}
        started = time.monotonic()
        sent = await call_asgi(app, http_scope("POST", path, headers), stalling_client(b'{"query": "{ __ty'))
        elapsed = time.monotonic() - started
    status, response_headers, body = response_of(sent)
    assert status == 408 and b"x-request-id" in response_headers
    code = body["errors"][0]["extensions"]["code"] if "errors" in body else body["error"]["code"]
    assert code == "BODY_TIMEOUT"
    assert 0.25 < elapsed < 5  # the 30 s+ of issue 12 became the setting


# --- deadline and disconnect -------------------------------------------------------------------------------

MARK = "atlas4d-deadline-test"


async def sleeping_queries(pool: asyncpg.Pool, tag: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()",
            f"%{MARK} {tag}%",
        )
    )


async def until(predicate: Callable[[], Awaitable[bool]], within: float = 5) -> float:
    """Seconds until `predicate()` holds (fails after `within` seconds)."""
    started = time.monotonic()
    while not await predicate():
        assert time.monotonic() - started < within, "condition not reached"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def slow_app(pool: asyncpg.Pool, settings: Settings, tag: str) -> Starlette:
    """`{ slow }` resolves through a DataLoader whose batch sleeps 20 s in PostgreSQL (the shape of our
    nested fields); `{ direct }` awaits the same statement in the resolver itself."""

    async def batch(keys: list[str]) -> list[str]:
        await pool.fetchval(f"SELECT pg_sleep(20) /* {MARK} {tag} */")
        return keys

    async def resolve_slow(_root: Any, info: Any) -> list[str]:
        loader = info.context["loader"]
        return list(await asyncio.gather(*(loader.load(str(i)) for i in range(3))))

    async def resolve_direct(_root: Any, _info: Any) -> str:
        await pool.fetchval(f"SELECT pg_sleep(20) /* {MARK} {tag} */")
        return "never"

    schema = GraphQLSchema(
        GraphQLObjectType(
            "Query",
            {
                "slow": GraphQLField(GraphQLList(GraphQLString), resolve=resolve_slow),
                "direct": GraphQLField(GraphQLString, resolve=resolve_direct),
            },
        )
    )

    async def context(_request: Request, request_id: str) -> Any:
        return {"loader": DataLoader(batch), "request_id": request_id}

    endpoint = GraphQLEndpoint(schema, settings, context)
    return Starlette(
        routes=[Route("/graphql", endpoint.handle, methods=["POST"])], middleware=[request_limits(settings)]
    )


@pytest.mark.parametrize("field", ["slow", "direct"])
async def test_the_deadline_cancels_resolvers_batches_and_sql(pool: asyncpg.Pool, field: str) -> None:
    tag = uuid.uuid4().hex[:8]
    app = slow_app(pool, Settings(database_url=None, request_timeout_ms=500), tag)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://deadline") as c:
        started = time.monotonic()
        response = await c.post("/graphql", json={"query": f"{{ {field} }}"})
        elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert response.headers["x-request-id"]
    assert 0.4 < elapsed < 5
    # PostgreSQL is no longer running the statement (asyncpg sent it a cancel request)
    await until(lambda: _none(pool, tag), within=3)


async def _none(pool: asyncpg.Pool, tag: str) -> bool:
    return await sleeping_queries(pool, tag) == 0


@contextlib.asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[int]:
    """`app` on a real uvicorn server on a free loopback port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    await until(_started(server), within=10)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def _started(server: uvicorn.Server) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return server.started

    return check


async def test_a_client_that_goes_away_cancels_its_sql(pool: asyncpg.Pool) -> None:
    """Issue 12: a client gone at 5 s left the server working ~38 s more. Here: a real uvicorn server, a raw
    socket closed mid-request; the statement is cancelled within a second, far before any deadline."""
    tag = uuid.uuid4().hex[:8]
    app = slow_app(pool, Settings(database_url=None, request_timeout_ms=60_000), tag)
    async with served(app) as port:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b'{"query": "{ slow }"}'
        writer.write(
            b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        await until(lambda: _running(pool, tag), within=5)
        writer.close()
        gone = await until(lambda: _none(pool, tag), within=5)
    assert gone < 2


async def _running(pool: asyncpg.Pool, tag: str) -> bool:
    return await sleeping_queries(pool, tag) > 0


async def test_cancelling_a_request_leaves_the_pool_whole(database_url: str) -> None:
    """asyncpg returns a connection to its pool in a task of its own (shielded, so that a cancelled caller
    cannot interrupt it). Cancelling a request must not cancel that task: here a request's work is giving its
    connection back when the request is cancelled — with one connection in the pool, the next query gets it
    and the pool closes (before the fix, both waited forever)."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        for _ in range(3):
            token = deadline.enter()
            tasks = deadline.current()
            assert tasks is not None
            try:
                connection = await pool.acquire()
                giving_back = asyncio.ensure_future(pool.release(connection))
                await asyncio.sleep(0)  # the release has started its shielded task
                tasks.cancel()  # the client went away
            finally:
                deadline.leave(token)
            with contextlib.suppress(asyncio.CancelledError):
                await giving_back
            assert await asyncio.wait_for(pool.fetchval("SELECT 1"), 30) == 1
    finally:
        await asyncio.wait_for(pool.close(), 30)
