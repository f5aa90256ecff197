"""The floor: a query-specific proxy that does only the benchmark query's two fetches and the merge, no planning.

    BENCH_PRODUCTS=URL BENCH_INVENTORY=URL BENCH_CLIENT=atlas4d|aiohttp|httpx|aiosonic|pyreqwest|raw \
        uvicorn floor:app --app-dir bench/federation

It answers exactly `{ items(first: 100) { id name price category inStock } }` (whatever is posted): it is what any
Python gateway over these two subgraphs must at least do per request — read the request, one root fetch, one
`_entities` fetch, merge, write the response — so our gateway's distance to it is the cost of planning and
executing a plan. `BENCH_CLIENT` picks the HTTP client, which is how the gateway's client was chosen
(atlas4d/federation/http_client.py): `atlas4d` (the gateway's own), httpx, aiohttp, aiosonic, pyreqwest (Rust's
reqwest; aiosonic and pyreqwest are not installed by set-up: pip install them first), or `raw`, a bare asyncio
keep-alive client written for this measurement only (no TLS, no timeouts, no pool limit).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

ROOT = b'{"query":"{ items(first: 100) { __typename id name price category } }"}'
ENTITIES = (
    "query($representations: [_Any!]!) { _entities(representations: $representations) "
    "{ ... on Item { inStock } } }"
)

Post = Callable[[str, bytes], Awaitable[bytes]]


class RawPool:
    """Keep-alive HTTP/1.1 connections to one host, reused LIFO; Content-Length and chunked bodies."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        )
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, body: bytes) -> bytes:
        conn = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
        reader, writer = conn
        writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").lower().split("\r\n")
        length = next((int(h.split(":", 1)[1]) for h in lines if h.startswith("content-length:")), None)
        if length is not None:
            payload = await reader.readexactly(length)
        else:  # chunked
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                chunks.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            payload = b"".join(c[:-2] for c in chunks)
        self.idle.append(conn)
        return payload


def make_client(kind: str) -> Post:
    if kind == "atlas4d":
        from atlas4d.federation.http_client import HttpClient

        ours = HttpClient(30.0)
        heads: dict[str, bytes] = {}

        async def post_atlas4d(url: str, body: bytes) -> bytes:
            head = heads.get(url)
            if head is None:
                head = heads[url] = ours.request_head(url, {"content-type": "application/json"})
            return (await ours.post(url, head, body, retry=True))[1]

        return post_atlas4d
    if kind == "httpx":
        import httpx

        hx = httpx.AsyncClient(limits=httpx.Limits(max_connections=100, max_keepalive_connections=100))

        async def post_httpx(url: str, body: bytes) -> bytes:
            response = await hx.post(url, content=body, headers={"content-type": "application/json"})
            return response.content

        return post_httpx
    if kind == "aiohttp":
        import aiohttp

        session: list[aiohttp.ClientSession] = []

        async def post_aiohttp(url: str, body: bytes) -> bytes:
            if not session:
                session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)))
            async with session[0].post(url, data=body, headers={"content-type": "application/json"}) as r:
                return await r.read()

        return post_aiohttp
    if kind == "aiosonic":
        import aiosonic

        sonic = aiosonic.HTTPClient()

        async def post_aiosonic(url: str, body: bytes) -> bytes:
            response = await sonic.post(url, data=body, headers={"content-type": "application/json"})
            return bytes(await response.content())

        return post_aiosonic
    if kind == "pyreqwest":
        from pyreqwest.client import ClientBuilder

        rq = ClientBuilder().http1_only().build()

        async def post_pyreqwest(url: str, body: bytes) -> bytes:
            request = rq.post(url).header("content-type", "application/json").body_bytes(body).build()
            response = await request.send()
            return bytes(await response.bytes())

        return post_pyreqwest
    if kind == "raw":
        pools: dict[str, RawPool] = {}

        async def post_raw(url: str, body: bytes) -> bytes:
            pool = pools.get(url)
            if pool is None:
                pool = pools[url] = RawPool(url)
            return await pool.post(body)

        return post_raw
    raise SystemExit(f"BENCH_CLIENT must be httpx, aiohttp or raw, not {kind!r}")


def build() -> Callable[..., Awaitable[None]]:
    products, inventory = os.environ["BENCH_PRODUCTS"], os.environ["BENCH_INVENTORY"]
    post = make_client(os.environ.get("BENCH_CLIENT", "atlas4d"))

    async def answer() -> bytes:
        items = orjson.loads(await post(products, ROOT))["data"]["items"]
        representations = [{"__typename": "Item", "id": item["id"]} for item in items]
        body = orjson.dumps({"query": ENTITIES, "variables": {"representations": representations}})
        entities = orjson.loads(await post(inventory, body))["data"]["_entities"]
        for item, extra in zip(items, entities, strict=True):
            del item["__typename"]
            item["inStock"] = extra["inStock"]
        return orjson.dumps({"data": {"items": items}})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # read (and ignore) the request body
            message = await receive()
            more = message.get("more_body", False)
        body = await answer()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


app = build() if "BENCH_PRODUCTS" in os.environ else None
