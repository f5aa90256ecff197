"""The HTTP transport to remote subgraphs, against a real HTTP/1.1 server that misbehaves on purpose.

`Scripted` is a bare asyncio server (not a framework, so that it can drop connections, stall, answer HTML or
chunked bodies exactly when told) that records every connection and request it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fed_servers import free_port
from graphql import parse

from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.transport import HttpClient, RemoteSubgraph, SubgraphFailure

QUERY = "{ hello }"
DOCUMENT = parse(QUERY)


@dataclass
class Request:
    connection: int
    head: str
    body: bytes


@dataclass
class Scripted:
    """Answers each POST with `respond(request)` -> raw bytes after the status line; `None` drops the
    connection without answering. `close_after` closes the connection after every answer (no header said so)."""

    respond: Callable[[Request], bytes | None]
    close_after: bool = False
    delay_s: float = 0.0
    requests: list[Request] = field(default_factory=list)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next(
                    int(line.split(":", 1)[1])
                    for line in head.lower().split("\r\n")
                    if line.startswith("content-length:")
                )
                request = Request(number, head, await reader.readexactly(length))
                self.requests.append(request)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                answer = self.respond(request)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    return
        finally:
            writer.close()


def ok(payload: object, status: str = "200 OK", extra: str = "") -> bytes:
    body = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def hello(request: Request) -> bytes:
    return ok({"data": {"hello": "world"}})


@contextlib.asynccontextmanager
async def serving(server: Scripted) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        listener.close()
        await listener.wait_closed()


@contextlib.asynccontextmanager
async def subgraph(url: str, **options: float) -> AsyncIterator[RemoteSubgraph]:
    client = HttpClient(options.pop("timeout", 5.0), **options)  # type: ignore[arg-type]
    try:
        yield RemoteSubgraph("things", url, client)
    finally:
        await client.aclose()


async def test_keep_alive_connections_are_reused_and_bounded() -> None:
    server = Scripted(hello)
    async with serving(server) as url, subgraph(url, max_connections=3) as remote:
        for _ in range(20):
            response = await remote.fetch(DOCUMENT, QUERY, {}, None, None)
            assert response.data == {"hello": "world"} and response.errors == []
        assert server.connections == 1  # one after another: the same connection every time
        server.delay_s = 0.05
        answers = await asyncio.gather(*(remote.fetch(DOCUMENT, QUERY, {}, None, None) for _ in range(12)))
        assert all(a.data == {"hello": "world"} for a in answers)
        assert server.connections <= 3  # never more than the pool's limit, however many wait
    assert len(server.requests) == 32
    body = json.loads(server.requests[0].body)
    assert body == {"query": QUERY, "variables": {}}
    head = server.requests[0].head.lower()
    assert "content-type: application/json" in head and "accept: application/json" in head


async def test_a_connection_closed_by_the_subgraph_is_retried_for_queries_only() -> None:
    server = Scripted(hello, close_after=True)  # closes every kept-alive connection without saying so
    async with serving(server) as url, subgraph(url) as remote:
        for _ in range(3):
            response = await remote.fetch(DOCUMENT, QUERY, {}, None, None)
            assert response.data == {"hello": "world"}
    assert server.connections == 3 and len(server.requests) == 3
    # a subgraph that drops the connection without answering: a mutation is never sent twice (it may have
    # run), a query is sent once more, then given up
    server = Scripted(lambda request: None)
    async with serving(server) as url, subgraph(url) as remote:
        mutation = "mutation { hello }"
        with pytest.raises(SubgraphFailure) as failed:
            await remote.fetch(parse(mutation), mutation, {}, None, None)
        assert failed.value.code == "SUBGRAPH_UNAVAILABLE"
        assert len(server.requests) == 1
        with pytest.raises(SubgraphFailure) as failed:
            await remote.fetch(DOCUMENT, QUERY, {}, None, None)
        assert failed.value.code == "SUBGRAPH_UNAVAILABLE"
        assert len(server.requests) == 3


async def test_timeout_is_typed_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    server = Scripted(hello, delay_s=1.0)
    async with serving(server) as url, subgraph(url, timeout=0.2) as remote:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, "atlas4d.federation"), pytest.raises(SubgraphFailure) as failed:
            await remote.fetch(DOCUMENT, QUERY, {}, None, None)
        assert time.monotonic() - started < 0.9
    assert failed.value.code == "SUBGRAPH_TIMEOUT"
    [record] = caplog.records
    assert "things" in record.getMessage() and "SUBGRAPH_TIMEOUT" in record.getMessage()


async def test_unreachable_subgraph() -> None:
    async with subgraph(f"http://127.0.0.1:{free_port()}/graphql") as remote:
        with pytest.raises(SubgraphFailure) as failed:
            await remote.fetch(DOCUMENT, QUERY, {}, None, None)
    assert failed.value.code == "SUBGRAPH_UNAVAILABLE"


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<h1>oops</h1>",
            502,
        ),
        (ok({"hello": "world"}), 200),  # JSON, but not a GraphQL response
        (ok(["data"]), 200),
    ],
    ids=["html-502", "json-without-data", "json-list"],
)
async def test_answers_that_are_not_graphql(answer: bytes, status: int) -> None:
    server = Scripted(lambda request: answer)
    async with serving(server) as url, subgraph(url) as remote:
        with pytest.raises(SubgraphFailure) as failed:
            await remote.fetch(DOCUMENT, QUERY, {}, None, None)
    assert failed.value.code == "SUBGRAPH_BAD_RESPONSE" and failed.value.status == status


async def test_graphql_errors_are_kept_whatever_the_http_status() -> None:
    errors = [{"message": "Cannot query field", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]
    server = Scripted(lambda request: ok({"errors": errors}, "400 Bad Request"))
    async with serving(server) as url, subgraph(url) as remote:
        response = await remote.fetch(DOCUMENT, QUERY, {}, None, None)
    assert response.data is None and response.errors == errors


async def test_chunked_bodies_and_no_cookies_carried() -> None:
    body = json.dumps({"data": {"hello": "chunked"}}).encode()
    half = len(body) // 2
    chunked = (
        b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:])) + b"0\r\n\r\n"
    )
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Set-Cookie: session=abc; Path=/\r\n\r\n" + chunked
    )
    server = Scripted(lambda request: answer)
    async with serving(server) as url, subgraph(url) as remote:
        for _ in range(2):
            response = await remote.fetch(DOCUMENT, QUERY, {"x": 1}, "Q", None)
            assert response.data == {"hello": "chunked"}
    assert all("cookie:" not in r.head.lower() for r in server.requests)
    assert json.loads(server.requests[1].body) == {
        "query": QUERY,
        "variables": {"x": 1},
        "operationName": "Q",
    }


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes under `pid` (multiprocessing's resource tracker is a child too)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


async def test_cli_gateway_with_workers(tmp_path: Path) -> None:
    """`atlas4d gateway --workers 2`: two worker processes serve the supergraph, each with its own client."""
    server = Scripted(hello)
    async with serving(server) as url:
        link = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])\n'
        sdl = compose([SubgraphSource("things", url, link + "type Query { hello: String }")])
        (tmp_path / "supergraph.graphql").write_text(sdl)
        port = free_port()
        command = [sys.executable, "-c", "from atlas4d.cli import main; main()", "gateway"]
        command += [
            "--supergraph",
            str(tmp_path / "supergraph.graphql"),
            "--port",
            str(port),
            "--workers",
            "2",
        ]
        process = await asyncio.to_thread(
            subprocess.Popen, command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if (await client.get("/health")).status_code == 200 and len(
                            _workers(process.pid)
                        ) == 2:
                            break
                    except httpx.TransportError:
                        pass
                    assert process.poll() is None, "gateway exited"
                    assert time.monotonic() < deadline, "gateway did not come up with two workers"
                    await asyncio.sleep(0.2)
                workers = set(_workers(process.pid))
                for _ in range(8):
                    answer = (await client.post("/graphql", json={"query": QUERY})).json()
                    assert answer == {"data": {"hello": "world"}}
            assert len(workers) == 2 and os.getpid() not in workers
            assert len(server.requests) == 8
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 20)
