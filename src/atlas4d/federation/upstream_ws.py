"""The gateway's side of graphql-transport-ws: one subscription to a remote subgraph, on its own socket.

    events = await UpstreamSubscription.open(url, headers, init_payload, query, variables, operation_name)
    async for event in events: ...      # SubgraphResponse per `next`; ends on `complete`
    await events.aclose()               # `complete` sent (when still running), socket closed

One socket per client subscription, as Apollo Router's passthrough mode and Hive Gateway do: the subgraph sees
the subscriber's own credentials on it, and closing it is how the subgraph learns the client went away.

Why not a library: `gql` (the well-kept Python client) speaks the protocol, but parses and validates every
document and result against a schema with graphql-core and owns the socket's life; the gateway already has a
checked subgraph document and needs only the protocol's framing around `websockets` (a dependency already:
uvicorn's WebSocket implementation). Failures are `SubgraphFailure`s with the HTTP path's codes:
`SUBGRAPH_UNAVAILABLE` (cannot connect, refused `connection_init`, socket closed mid-stream),
`SUBGRAPH_TIMEOUT` (no `connection_ack` within the timeout), `SUBGRAPH_BAD_RESPONSE` (not the protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from atlas4d.federation.transport import JSON, SubgraphFailure, SubgraphResponse

PROTOCOL = Subprotocol("graphql-transport-ws")
CLOSE_TIMEOUT_S = 5.0


def websocket_url(http_url: str) -> str:
    """The graphql-transport-ws URL of a subgraph served over HTTP at `http_url`: same host and path."""
    parts = urlsplit(http_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


class UpstreamSubscription:
    """One running subscription (id "1") on its own graphql-transport-ws connection."""

    def __init__(self, ws: ClientConnection, url: str) -> None:
        self.ws = ws
        self.url = url
        self.done = False  # the subgraph completed it, or sent `error`
        self.closed = False
        self._early: list[JSON] = []  # messages received while waiting for the pong after `subscribe`

    @classmethod
    async def open(
        cls,
        url: str,
        headers: Mapping[str, str],
        init_payload: JSON,
        query: str,
        variables: JSON,
        operation_name: str | None,
        handshake_s: float,
    ) -> UpstreamSubscription:
        """Connect, `connection_init` (its payload: the forwarded credentials), wait for `connection_ack`, send
        `subscribe`. Raises SubgraphFailure."""
        try:
            ws = await connect(
                url,
                subprotocols=[PROTOCOL],
                additional_headers=dict(headers),
                open_timeout=handshake_s,
                max_size=None,
                compression=None,
            )
        except TimeoutError as exc:
            raise SubgraphFailure(
                "SUBGRAPH_TIMEOUT", f"{url}: no WebSocket handshake in {handshake_s} s"
            ) from exc
        except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            raise SubgraphFailure("SUBGRAPH_UNAVAILABLE", f"{url}: {exc}") from exc
        self = cls(ws, url)
        try:
            await self._send({"type": "connection_init", "payload": init_payload})
            async with asyncio.timeout(handshake_s):
                while True:
                    message = await self._receive()
                    kind = message.get("type")
                    if kind == "connection_ack":
                        break
                    if kind == "ping":
                        await self._send({"type": "pong"})
                    elif kind != "pong":
                        raise SubgraphFailure(
                            "SUBGRAPH_BAD_RESPONSE", f"{url}: {kind!r} before connection_ack"
                        )
            payload: JSON = {"query": query, "variables": variables}
            if operation_name:
                payload["operationName"] = operation_name
            await self._send({"id": "1", "type": "subscribe", "payload": payload})
            # A server handling a connection's messages in order (ours) has started the subscription once it
            # answers a ping sent after it: the client's own subscribe is then answered only when events
            # written from now on will reach it. Messages of the subscription that come first are kept.
            await self._send({"type": "ping"})
            async with asyncio.timeout(handshake_s):
                while True:
                    message = await self._receive()
                    kind = message.get("type")
                    if kind == "pong":
                        break
                    if kind == "ping":
                        await self._send({"type": "pong"})
                    else:
                        self._early.append(message)
        except TimeoutError as exc:
            await self.aclose()
            raise SubgraphFailure(
                "SUBGRAPH_TIMEOUT", f"{url}: no connection_ack or pong in {handshake_s} s"
            ) from exc
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _send(self, message: JSON) -> None:
        try:
            await self.ws.send(orjson.dumps(message).decode())
        except websockets.ConnectionClosed as exc:
            raise self._closed_failure(exc) from exc

    async def _receive(self) -> JSON:
        try:
            text = await self.ws.recv()
        except websockets.ConnectionClosed as exc:
            raise self._closed_failure(exc) from exc
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise SubgraphFailure("SUBGRAPH_BAD_RESPONSE", f"{self.url}: a message that is not JSON") from exc
        if not isinstance(message, dict):
            raise SubgraphFailure("SUBGRAPH_BAD_RESPONSE", f"{self.url}: a message that is not an object")
        return message

    def _closed_failure(self, exc: websockets.ConnectionClosed) -> SubgraphFailure:
        frame = exc.rcvd
        reason = f"closed {frame.code} {frame.reason}".strip() if frame is not None else "connection lost"
        return SubgraphFailure("SUBGRAPH_UNAVAILABLE", f"{self.url}: {reason}")

    def __aiter__(self) -> AsyncIterator[SubgraphResponse]:
        return self._events()

    async def _events(self) -> AsyncIterator[SubgraphResponse]:
        """Each `next` as a response; an `error` message as a response without data, then the end; `complete`
        ends it. Raises SubgraphFailure when the socket closes before `complete`."""
        while not self.done:
            message = self._early.pop(0) if self._early else await self._receive()
            kind = message.get("type")
            if kind == "ping":
                await self._send({"type": "pong"})
                continue
            if kind == "pong" or message.get("id") != "1":
                continue
            if kind == "next":
                yield _response(message.get("payload"), self.url)
            elif kind == "error":
                self.done = True
                errors = message.get("payload")
                yield SubgraphResponse(
                    None, [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
                )
            elif kind == "complete":
                self.done = True
            else:
                raise SubgraphFailure("SUBGRAPH_BAD_RESPONSE", f"{self.url}: message type {kind!r}")

    async def aclose(self) -> None:
        """Stop the subscription (`complete`, unless the subgraph ended it) and close the socket."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                if not self.done:
                    with contextlib.suppress(websockets.ConnectionClosed):
                        await self.ws.send('{"id":"1","type":"complete"}')
                await self.ws.close()
        if self.ws.state is not websockets.State.CLOSED:  # the closing handshake timed out
            self.ws.transport.abort()


def _response(payload: Any, url: str) -> SubgraphResponse:
    if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
        raise SubgraphFailure("SUBGRAPH_BAD_RESPONSE", f"{url}: a `next` that is not a GraphQL result")
    data = payload.get("data")
    errors = payload.get("errors") or []
    return SubgraphResponse(
        data if isinstance(data, dict) else None, [e for e in errors if isinstance(e, dict)]
    )
