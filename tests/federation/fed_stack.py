"""The federation test stack: the test subgraphs served in-process and over HTTP, a JS subgraph and
@apollo/gateway run by node, and our gateways over the supergraph @apollo/composition makes of them."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import strawberry
from fed_servers import CountingApp, NodeProcess, ThreadedServer, node_json
from fed_subgraphs import inventory, products, ratings, reviews
from fed_subgraphs.state import RATINGS
from starlette.responses import PlainTextResponse

from atlas4d.federation.gateway import Gateway
from atlas4d.federation.subgraph import subgraph_app, subgraph_sdl

PYTHON_SUBGRAPHS = {"products": products, "reviews": reviews, "inventory": inventory, "ratings": ratings}
# ratings always stays remote: its failures are HTTP failures.
IN_PROCESS = ("products", "reviews", "inventory")


class FlakyApp:
    """Wraps the ratings subgraph: healthy, down (HTTP 503, not JSON) or slow, as RATINGS.mode says."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and RATINGS.mode == "down":
            await PlainTextResponse("service unavailable", status_code=503)(scope, receive, send)
            return
        if scope["type"] == "http" and RATINGS.mode == "slow":
            await asyncio.sleep(RATINGS.delay_s)
        await self.app(scope, receive, send)


@dataclass
class Stack:
    schemas: dict[str, strawberry.Schema]
    sdls: dict[str, str]
    urls: dict[str, str]
    supergraph_sdl: str
    apollo_url: str
    counters: dict[str, CountingApp]
    accounts: NodeProcess
    gateways: dict[str, Gateway] = field(default_factory=dict)

    def reset_counts(self) -> None:
        for counter in self.counters.values():
            counter.requests = 0
        for gateway in self.gateways.values():
            for subgraph in gateway.subgraphs.values():
                subgraph.requests = 0
        self.accounts.command("reset")

    def http_counts(self) -> dict[str, int]:
        counts = {name: c.requests for name, c in self.counters.items()}
        counts["accounts"] = int(self.accounts.command("count")["requests"])
        return counts

    def gateway_counts(self, mode: str) -> dict[str, int]:
        return {name: s.requests for name, s in self.gateways[mode].subgraphs.items()}


def start_stack(servers: list[ThreadedServer], processes: list[NodeProcess]) -> Stack:
    """Start every server (blocking); what started is appended to `servers`/`processes` for teardown."""
    schemas = {name: module.schema() for name, module in PYTHON_SUBGRAPHS.items()}
    counters: dict[str, CountingApp] = {}
    urls: dict[str, str] = {}
    for name, schema in schemas.items():
        app: Any = subgraph_app(schema)
        if name == "ratings":
            app = FlakyApp(app)
        counters[name] = CountingApp(app)
        server = ThreadedServer(counters[name])
        servers.append(server.start())
        urls[name] = server.url
    accounts = NodeProcess("accounts-subgraph.js")
    processes.append(accounts)
    urls["accounts"] = accounts.url
    sdls = {name: subgraph_sdl(schema) for name, schema in schemas.items()}
    answer = httpx.post(accounts.url, json={"query": "{ _service { sdl } }"}).json()
    sdls["accounts"] = answer["data"]["_service"]["sdl"]
    composed = node_json("compose.js", [{"name": n, "url": urls[n], "sdl": sdls[n]} for n in sdls])
    assert "supergraphSdl" in composed, composed
    supergraph_sdl = composed["supergraphSdl"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "supergraph.graphql"
        path.write_text(supergraph_sdl)
        apollo = NodeProcess("gateway.js", str(path))
    processes.append(apollo)
    stack = Stack(schemas, sdls, urls, supergraph_sdl, apollo.url, counters, accounts)
    stack.gateways["local"] = Gateway.from_supergraph(
        supergraph_sdl, local={n: schemas[n] for n in IN_PROCESS}, timeout=15.0
    )
    stack.gateways["remote"] = Gateway.from_supergraph(supergraph_sdl, timeout=15.0)
    return stack


def stop_all(servers: list[ThreadedServer], processes: list[NodeProcess]) -> None:
    for process in processes:
        process.stop()
    for server in servers:
        server.stop()


def _error_key(error: dict[str, Any]) -> tuple[Any, ...]:
    path = tuple(error.get("path") or ())
    code = (error.get("extensions") or {}).get("code")
    # Subgraph errors keep their message; the gateway's own transport errors are compared by path only
    # (Apollo's embed the subgraph URL and body, ours are masked).
    message = error["message"] if code == "DOWNSTREAM_SERVICE_ERROR" else None
    return (path, message)


def assert_equivalent(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same `data`; same subgraph errors (by path and message); the gateway's own value-completion errors at
    the paths @apollo/gateway reports under `extensions.valueCompletion` (which it leaves out when a subgraph
    error is already there: then ours are allowed)."""
    assert ours.get("data") == theirs.get("data")
    if theirs.get("data") is None and "data" in theirs and "data" not in ours:
        return  # a request error (validation): Apollo also answers without executing
    ours_all = ours.get("errors", [])
    ours_completion = sorted(repr(_error_key(e)) for e in ours_all if "extensions" not in e)
    ours_rest = sorted(repr(_error_key(e)) for e in ours_all if "extensions" in e)
    theirs_errors = sorted(repr(_error_key(e)) for e in theirs.get("errors", []))
    theirs_completion = sorted(
        repr(_error_key(e)) for e in (theirs.get("extensions") or {}).get("valueCompletion", [])
    )
    assert ours_rest == theirs_errors, (ours, theirs)
    if theirs_completion or not theirs_errors:
        assert ours_completion == theirs_completion, (ours, theirs)
