"""A small HTTP/1.1 client for the gateway's subgraph calls: POST a body, get the status and the whole body.

Why not a library (httpx, aiohttp): measured on `python -m bench.federation` (the floor rows: a proxy that only
does the benchmark query's two fetches and its merge, over fast Node subgraphs), the client is most of what a
Python gateway spends per request. httpx cost 5.5 to 8 CPU-ms per request (httpcore's pool checks every pooled
connection on every request, httpcore #1035); aiohttp, the fastest well-kept library, about 1.0 — already more
than the issue's target of 2x @apollo/gateway allows a whole gateway (Apollo measured ~1.3 CPU-ms per request
there) — and a bare asyncio client about 0.55. Per fetch, in isolation: aiohttp 0.25-0.33 CPU-ms, this client
0.07-0.11. The parsing, where HTTP's hard parts are, is a library's: httptools (llhttp, as used by uvicorn and
Node, already one of our dependencies through uvicorn[standard]); what is written here is only what a gateway
needs around it: keep-alive connections pooled per origin (LIFO, at most `max_connections` per origin, idle ones
closed after `keepalive_timeout`), one request at a time per connection, TLS for https URLs (asyncio's), a total
timeout per request. Not supported, on purpose: proxies, redirects, compression, cookies, HTTP/2.

Errors: `HttpError(kind)` with kind "timeout", "unavailable" (could not connect, or the connection was lost
before the whole answer came) or "bad_response" (not HTTP/1.x). `stale` tells that a reused keep-alive connection
turned out closed before any byte of the answer came: the request can be sent again on a new connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, cast
from urllib.parse import urlsplit

import httptools

Kind = Literal["timeout", "unavailable", "bad_response"]


class HttpError(Exception):
    def __init__(self, kind: Kind, detail: str, *, stale: bool = False) -> None:
        super().__init__(detail)
        self.kind = kind
        self.stale = stale


class _Connection(asyncio.Protocol):
    """One keep-alive connection; httptools parses the answers."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.received = False  # a byte of the current answer came
        self.until_close = False  # the current answer's body ends when the connection does
        self.closed = False
        self.idle_since = 0.0

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing asked: a server speaking out of turn is not reused
            self.close()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError("bad_response", f"not an HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.until_close:
            waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))
        else:
            self._fail(HttpError("unavailable", "connection lost", stale=not self.received))

    # --- httptools callbacks
    def on_message_begin(self) -> None:
        self.chunks = []
        self.until_close = False

    def on_headers_complete(self) -> None:
        # neither Content-Length nor chunked: the body is what comes until the server closes
        self.until_close = not self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.until_close = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))
        if not self.parser.should_keep_alive():
            self.close()

    # ---
    def _fail(self, error: HttpError) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.received = False
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None


@dataclass
class _Origin:
    host: str
    port: int
    tls: ssl.SSLContext | None
    idle: list[_Connection] = field(default_factory=list)
    open: int = 0
    queue: deque[asyncio.Future[None]] = field(default_factory=deque)


class HttpClient:
    """Pooled keep-alive HTTP/1.1 POSTs (see the module docstring)."""

    def __init__(
        self,
        timeout: float,
        *,
        max_connections: int = 100,
        keepalive_timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_connections = max_connections
        self.keepalive_timeout = keepalive_timeout
        self.ssl_context = ssl_context
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._by_url: dict[str, _Origin] = {}  # (a gateway posts to a few URLs: parsed once each)

    def request_head(self, url: str, headers: dict[str, str]) -> bytes:
        """The request line and headers for POSTs to `url`, without Content-Length (added per request)."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")

    def _origin(self, url: str) -> _Origin:
        origin = self._by_url.get(url)
        if origin is None:
            origin = self._by_url[url] = self._parse_origin(url)
        return origin

    def _parse_origin(self, url: str) -> _Origin:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or "localhost"
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        origin = self._origins.get(key)
        if origin is None:
            if scheme not in ("http", "https"):
                raise HttpError("unavailable", f"unsupported URL scheme {scheme!r}")
            tls = (self.ssl_context or ssl.create_default_context()) if scheme == "https" else None
            origin = self._origins[key] = _Origin(host, port, tls)
        return origin

    async def post(self, url: str, head: bytes, body: bytes, *, retry: bool) -> tuple[int, bytes]:
        """POST `body` with the prepared `head` (request_head); the status and the whole body."""
        origin = self._origin(url)
        request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        try:
            async with asyncio.timeout(self.timeout):
                for _ in range(2):
                    connection = await self._acquire(origin)
                    reused = connection.idle_since > 0
                    try:
                        answer = await connection.exchange(request)
                    except HttpError as error:
                        connection.close()
                        if error.stale and reused and retry:
                            continue
                        raise
                    except BaseException:
                        connection.close()
                        raise
                    finally:
                        self._release(origin, connection)
                    return answer
                raise HttpError("unavailable", "connection lost twice")
        except TimeoutError as exc:
            raise HttpError("timeout", f"no answer within {self.timeout:g} s") from exc

    async def _acquire(self, origin: _Origin) -> _Connection:
        now = time.monotonic()
        while origin.idle:
            connection = origin.idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_timeout:
                return connection
            connection.close()
            origin.open -= 1
        while origin.open >= self.max_connections:
            waiter = asyncio.get_running_loop().create_future()
            origin.queue.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in origin.queue:
                    origin.queue.remove(waiter)
                elif waiter.done():  # woken, then cancelled: pass the turn on
                    self._wake(origin)
                raise
            if origin.idle:
                return await self._acquire(origin)
        origin.open += 1
        try:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(
                _Connection, origin.host, origin.port, ssl=origin.tls
            )
        except OSError as exc:
            origin.open -= 1
            self._wake(origin)
            raise HttpError("unavailable", f"cannot connect: {exc}") from exc
        except BaseException:
            origin.open -= 1
            self._wake(origin)
            raise
        return connection

    def _release(self, origin: _Origin, connection: _Connection) -> None:
        if connection.closed or connection.waiter is not None:
            origin.open -= 1
        else:
            connection.idle_since = time.monotonic()
            origin.idle.append(connection)
        self._wake(origin)

    @staticmethod
    def _wake(origin: _Origin) -> None:
        while origin.queue:
            waiter = origin.queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        for origin in self._origins.values():
            for connection in origin.idle:
                connection.close()
            origin.idle.clear()
        self._origins.clear()
        self._by_url.clear()
