"""The gateway's graphql-transport-ws client (federation/upstream_ws.py) against real sockets that misbehave: each
failure is the typed SubgraphFailure the HTTP path uses; `ATLAS4D_SUBSCRIPTION_URLS` reaches the subgraph."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import websockets
from websockets.asyncio.server import ServerConnection, serve

from atlas4d.federation.gateway import Gateway
from atlas4d.federation.transport import RemoteSubgraph, SubgraphFailure
from atlas4d.federation.upstream_ws import UpstreamSubscription, websocket_url
from live_server import free_port

SUPERGRAPH_SUBGRAPHS = """
schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION) { query: Query subscription: Subscription }
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
enum join__Graph { TICKS @join__graph(name: "ticks", url: "http://127.0.0.1:9/graphql") }
type Query @join__type(graph: TICKS) { now: Int }
type Subscription @join__type(graph: TICKS) { tick: Int }
"""

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    port = free_port()
    async with serve(handler, "127.0.0.1", port, subprotocols=["graphql-transport-ws"]):  # type: ignore[list-item]
        yield f"ws://127.0.0.1:{port}/graphql"


async def subscribe(url: str, handshake_s: float = 5) -> UpstreamSubscription:
    return await UpstreamSubscription.open(url, {}, {}, "subscription { tick }", {}, None, handshake_s)


def test_the_websocket_url_of_a_subgraph() -> None:
    assert websocket_url("http://core:4001/graphql") == "ws://core:4001/graphql"
    assert websocket_url("https://core.internal/subgraphs/core/graphql?x=1") == (
        "wss://core.internal/subgraphs/core/graphql?x=1"
    )


def test_subscription_urls_override_the_derived_one() -> None:
    gateway = Gateway.from_supergraph(SUPERGRAPH_SUBGRAPHS, subscription_urls={"ticks": "wss://ticks/ws"})
    subgraph = gateway.subgraphs["ticks"]
    assert isinstance(subgraph, RemoteSubgraph) and subgraph.subscription_url == "wss://ticks/ws"
    assert gateway.plan("subscription { tick }").node is not None


async def test_nobody_listening_is_unavailable() -> None:
    with pytest.raises(SubgraphFailure) as failure:
        await subscribe(f"ws://127.0.0.1:{free_port()}/graphql")
    assert failure.value.code == "SUBGRAPH_UNAVAILABLE"


async def test_no_connection_ack_in_time_is_a_timeout() -> None:
    async def silent(ws: ServerConnection) -> None:
        await ws.wait_closed()  # until the gateway gives up and closes

    async with server(silent) as url:
        with pytest.raises(SubgraphFailure) as failure:
            await subscribe(url, handshake_s=0.5)
    assert failure.value.code == "SUBGRAPH_TIMEOUT"


async def test_a_refused_connection_init_is_unavailable() -> None:
    async def refusing(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(4403, "Forbidden")

    async with server(refusing) as url:
        with pytest.raises(SubgraphFailure) as failure:
            await subscribe(url)
    assert failure.value.code == "SUBGRAPH_UNAVAILABLE" and "4403" in failure.value.detail


async def test_events_then_complete_then_the_socket_is_closed() -> None:
    seen: list[Any] = []

    async def ticking(ws: ServerConnection) -> None:
        seen.append(orjson.loads(await ws.recv()))  # connection_init
        await ws.send('{"type":"connection_ack"}')
        seen.append(orjson.loads(await ws.recv()))  # subscribe
        await ws.send(orjson.dumps({"id": "1", "type": "next", "payload": {"data": {"tick": 0}}}).decode())
        assert orjson.loads(await ws.recv()) == {"type": "ping"}  # the gateway's barrier after subscribe
        await ws.send('{"type":"ping"}')
        assert orjson.loads(await ws.recv()) == {"type": "pong"}
        await ws.send('{"type":"pong"}')
        for n in (1, 2):
            await ws.send(
                orjson.dumps({"id": "1", "type": "next", "payload": {"data": {"tick": n}}}).decode()
            )
        await ws.send('{"id":"1","type":"complete"}')
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()  # the gateway closes the socket once the subscription is over

    async with server(ticking) as url:
        upstream = await subscribe(url)
        events = [e.data async for e in upstream]
        await upstream.aclose()
    assert events == [{"tick": 0}, {"tick": 1}, {"tick": 2}]  # the one before the pong kept
    assert seen[1]["type"] == "subscribe" and seen[1]["payload"]["query"] == "subscription { tick }"


async def test_a_message_that_is_not_the_protocol_is_a_bad_response() -> None:
    async def garbage(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send('{"type":"connection_ack"}')
        await ws.recv()  # subscribe
        await ws.recv()  # ping
        await ws.send('{"type":"pong"}')
        await ws.send("<html>502</html>")
        await ws.wait_closed()

    async with server(garbage) as url:
        upstream = await subscribe(url)
        with pytest.raises(SubgraphFailure) as failure:
            async for _ in upstream:
                pass
        await upstream.aclose()
    assert failure.value.code == "SUBGRAPH_BAD_RESPONSE"
