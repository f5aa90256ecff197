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
import ssl
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
from atlas4d.federation.http_client import HttpClient
from atlas4d.federation.transport import RemoteSubgraph, SubgraphFailure

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


async def test_fetches_cancelled_mid_exchange_or_while_queued_give_their_slots_back() -> None:
    """A client disconnect or a deadline cancels the request's fetches: a cancelled exchange closes its
    connection and a cancelled waiter leaves the queue, so the pool's count of open connections returns to
    what is really open and later fetches are not starved (the asyncpg pool once leaked this way, 4ce4eb1)."""
    server = Scripted(hello, delay_s=0.3)
    async with serving(server) as url, subgraph(url, max_connections=2) as remote:
        client = remote.client
        fetches = [asyncio.ensure_future(remote.fetch(DOCUMENT, QUERY, {}, None, None)) for _ in range(6)]
        for _ in range(1_000):  # two in the middle of an exchange, four queued for a slot
            if len(server.requests) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(server.requests) == 2 and len(client._origins) == 1
        for fetch in fetches:
            fetch.cancel()
        await asyncio.gather(*fetches, return_exceptions=True)
        (origin,) = client._origins.values()
        assert (origin.open, len(origin.idle), len(origin.queue)) == (0, 0, 0)
        server.delay_s = 0.0
        answers = await asyncio.gather(*(remote.fetch(DOCUMENT, QUERY, {}, None, None) for _ in range(4)))
        assert all(a.data == {"hello": "world"} for a in answers)
        assert origin.open <= 2 and len(origin.queue) == 0


async def test_a_kept_alive_connection_the_subgraph_closed_is_retried_for_queries_only() -> None:
    server = Scripted(hello, close_after=True)  # closes every kept-alive connection without saying so
    async with serving(server) as url, subgraph(url) as remote:
        for _ in range(3):
            await asyncio.sleep(0.05)  # let the close arrive first, or not: both must work
            response = await remote.fetch(DOCUMENT, QUERY, {}, None, None)
            assert response.data == {"hello": "world"}
        # a reused connection found closed before any answer: a mutation is not sent again (it may have run)
        server.close_after = False
        await remote.fetch(DOCUMENT, QUERY, {}, None, None)  # a connection kept alive by both sides again
        server.respond = lambda request: None  # from now on: drop the connection without answering
        before = len(server.requests)
        mutation = "mutation { hello }"
        with pytest.raises(SubgraphFailure) as failed:
            await remote.fetch(parse(mutation), mutation, {}, None, None)
        assert failed.value.code == "SUBGRAPH_UNAVAILABLE"
        assert len(server.requests) == before + 1
        # a query on a new connection dropped without an answer: the subgraph's fault, not a stale connection
        with pytest.raises(SubgraphFailure) as failed:
            await remote.fetch(DOCUMENT, QUERY, {}, None, None)
        assert failed.value.code == "SUBGRAPH_UNAVAILABLE"
        assert len(server.requests) == before + 2
    assert len(server.requests) == before + 2


async def test_answers_ended_by_close_and_connection_close_headers() -> None:
    body = b'{"data": {"hello": "until close"}}'
    server = Scripted(lambda request: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)
    server.close_after = True
    async with serving(server) as url, subgraph(url) as remote:
        response = await remote.fetch(DOCUMENT, QUERY, {}, None, None)
        assert response.data == {"hello": "until close"}
        # `Connection: close`: the client does not put that connection back in the pool
        server.respond = lambda request: ok({"data": {"hello": "bye"}}, extra="Connection: close\r\n")
        server.close_after = False
        for _ in range(3):
            assert (await remote.fetch(DOCUMENT, QUERY, {}, None, None)).data == {"hello": "bye"}
    assert server.connections == 4 and len(server.requests) == 4


async def test_a_big_answer_in_many_pieces() -> None:
    payload = {"data": {"hello": "x" * 2_000_000}}
    answer = ok(payload)

    class Slow(Scripted):
        async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            for start in range(0, len(answer), 65_536):
                writer.write(answer[start : start + 65_536])
                await writer.drain()
            writer.close()

    async with serving(Slow(hello)) as url, subgraph(url) as remote:
        response = await remote.fetch(DOCUMENT, QUERY, {}, None, None)
    assert response.data == payload["data"]


async def test_not_http_at_all() -> None:
    server = Scripted(lambda request: b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    async with serving(server) as url, subgraph(url) as remote:
        with pytest.raises(SubgraphFailure) as failed:
            await remote.fetch(DOCUMENT, QUERY, {}, None, None)
    assert failed.value.code == "SUBGRAPH_BAD_RESPONSE"


async def test_https(tmp_path: Path) -> None:
    """An https URL is called over TLS (a self-signed certificate the client is told to trust)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await asyncio.to_thread(
        subprocess.run,
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = Scripted(hello)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_tls)
    port = listener.sockets[0].getsockname()[1]
    client_tls = ssl.create_default_context(cafile=str(cert))
    client = HttpClient(5.0, ssl_context=client_tls)
    try:
        remote = RemoteSubgraph("things", f"https://localhost:{port}/graphql", client)
        for _ in range(3):
            assert (await remote.fetch(DOCUMENT, QUERY, {}, None, None)).data == {"hello": "world"}
        # the default context checks certificates: an untrusted one is refused, not ignored
        strict = HttpClient(5.0)
        try:
            with pytest.raises(SubgraphFailure) as failed:
                await RemoteSubgraph("things", f"https://localhost:{port}/graphql", strict).fetch(
                    DOCUMENT, QUERY, {}, None, None
                )
            assert failed.value.code == "SUBGRAPH_UNAVAILABLE"
        finally:
            await strict.aclose()
    finally:
        await client.aclose()
        listener.close()
        await listener.wait_closed()
    assert server.connections == 1 and len(server.requests) == 3


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
