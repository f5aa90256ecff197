"""GraphQL over WebSocket: the graphql-transport-ws protocol (the `graphql-ws` library's, used by Apollo
Client, urql, Relay, GraphiQL, Apollo Router and Hive Gateway), on Starlette's WebSocket.

Hand-written instead of Strawberry's handler because ours (1) renders each event once per live operation
rather than once per subscriber (service.py), (2) never lets one client's pace reach the hub (a bounded
outbox per connection, outbox.py), (3) speaks the same limits, caches and errors as our HTTP endpoint.
The reference server measured in the issue took 17 s to accept 1,000 subscriptions.

Close codes: the protocol's (4400 bad message, 4401 subscribe before init, 4403 connection_init refused:
no or bad credentials, 4406 subprotocol, 4408 init timeout, 4409 duplicate id, 4429 second init), plus 4413
slow consumer (outbox.py) and 1012 after the server missed change notices (its broker reconnected): clients
reconnect and resubscribe, and should refetch.

Credentials: those of the upgrade request (atlas4d.auth's middleware), or those in the connection_init payload
(`connectionParams` of graphql-ws: `Authorization: "Bearer …"` or `X-API-Key`/`apiKey`, at the top or under
`headers`), verified by the same middleware's verifiers; the payload's win. The connection's tenant is its
principal's for its whole life (the hub reads rows back under it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any
from uuid import uuid4

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from atlas4d.auth.principal import Principal
from atlas4d.errors import Atlas4DError
from atlas4d.settings import Settings
from atlas4d.streaming.outbox import SLOW_CONSUMER, Outbox, SlowConsumer
from atlas4d.streaming.service import Live, LiveService, Refused, Single, Subscriber

log = logging.getLogger("atlas4d.streaming")

PROTOCOL = "graphql-transport-ws"
BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, SUBPROTOCOL, INIT_TIMEOUT = 4400, 4401, 4403, 4406, 4408
DUPLICATE, TOO_MANY_INITS, MISSED_NOTICES = 4409, 4429, 1012

# (websocket, connection_init payload) -> the principal (None: no security layer), or raise PermissionError
Authenticate = Callable[[WebSocket, dict[str, Any]], Awaitable[Principal | None]]

# payload keys (lower case, without `-` and `_`) -> the header the verifiers read
_CREDENTIALS = {"authorization": "authorization", "xapikey": "x-api-key", "apikey": "x-api-key"}


def credentials_in(payload: dict[str, Any]) -> dict[str, str]:
    """The credentials a client put in its connection_init payload, as the headers the verifiers read."""
    out: dict[str, str] = {}
    nested = payload.get("headers")
    for source in (nested if isinstance(nested, dict) else {}, payload):
        for key, value in source.items():
            name = _CREDENTIALS.get(str(key).lower().replace("-", "").replace("_", ""))
            if name is not None and isinstance(value, str):
                out[name] = value
    return out


async def authenticate_init(websocket: WebSocket, payload: dict[str, Any]) -> Principal | None:
    """Credentials in the payload, verified by atlas4d.auth's middleware; else the upgrade's principal.
    PermissionError when neither gives one (the middleware let the upgrade through without credentials)."""
    state = websocket.scope.setdefault("state", {})
    verify = state.get("authenticate")
    offered = credentials_in(payload)
    if offered:
        state["init_credentials"] = offered  # what a gateway forwards to the subgraphs it subscribes to
    principal = state.get("principal")
    if verify is None:  # no security layer in front (an endpoint mounted alone)
        return principal if isinstance(principal, Principal) else None
    if offered:
        try:
            principal = await verify(offered)
        except Atlas4DError as exc:
            raise PermissionError(exc.message) from exc
        except Exception as exc:  # the key store is unreachable: refuse, never let through
            raise PermissionError("credentials cannot be checked now; try again shortly") from exc
        state["principal"] = principal
    if not isinstance(principal, Principal):
        raise PermissionError(
            "this server needs credentials: send Authorization in the connection_init payload"
        )
    return principal


class _Connection:
    def __init__(
        self, websocket: WebSocket, service: LiveService, settings: Settings, authenticate: Authenticate
    ) -> None:
        self.ws = websocket
        self.service = service
        self.settings = settings
        self.authenticate = authenticate
        self.outbox = Outbox(settings.stream_queue_size, settings.stream_slow_consumer)
        self.subscriptions: dict[str, Live | None] = {}
        self.initialised = False
        self.init_received = False
        self.subscriber = Subscriber(websocket, None, None)
        self.closing: tuple[int, str] | None = None
        self.closed = asyncio.Event()
        self.id = websocket.headers.get("x-request-id", "")[:32] or uuid4().hex[:12]
        self.count = 0

    # --- outgoing ------------------------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        self.outbox.put_control(orjson.dumps(message).decode())

    async def sender(self) -> None:
        try:
            while True:
                text = await self.outbox.get()
                await self.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed.set()

    def close(self, code: int, reason: str) -> None:
        """Stop everything now; the close frame goes out from the reader loop."""
        if self.closing is None:
            self.closing = (code, reason)
            self.stop_all()
            self.closed.set()

    def sink_for(self, sub_id: str) -> Callable[[list[tuple[Hashable, str]]], None]:
        head = '{"id":' + orjson.dumps(sub_id).decode() + ',"type":"next","payload":'

        def sink(items: list[tuple[Hashable, str]]) -> None:
            try:
                self.outbox.put_batch([((sub_id, entity), head + payload + "}") for entity, payload in items])
            except SlowConsumer as exc:
                self.close(SLOW_CONSUMER, f"Slow consumer: {exc}")

        return sink

    def end_for(self, sub_id: str) -> Callable[[list[dict[str, Any]]], None]:
        """The source ended by itself (a gateway's upstream): its errors as a last `next`, then `complete`."""

        def end(errors: list[dict[str, Any]]) -> None:
            if self.subscriptions.pop(sub_id, None) is None:
                return  # completed or stopped meanwhile
            if errors:
                self.send({"id": sub_id, "type": "next", "payload": {"errors": errors}})
            self.send({"id": sub_id, "type": "complete"})

        return end

    # --- incoming ------------------------------------------------------------------------------------------
    async def handle(self, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self.close(BAD_REQUEST, "Invalid message received: not JSON")
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "connection_init":
            return await self._init(message)
        if kind == "ping":
            return self.send({"type": "pong"})
        if kind == "pong":
            return None
        if kind == "subscribe":
            return await self._subscribe(message)
        if kind == "complete":
            sub_id = message.get("id")
            if isinstance(sub_id, str):
                self.stop(sub_id)
            return None
        return self.close(BAD_REQUEST, f"Invalid message received: type {str(kind)[:40]!r}")

    async def _init(self, message: dict[str, Any]) -> None:
        if self.init_received:
            return self.close(TOO_MANY_INITS, "Too many initialisation requests")
        self.init_received = True
        payload = message.get("payload")
        try:
            principal = await self.authenticate(self.ws, payload if isinstance(payload, dict) else {})
        except PermissionError as exc:
            return self.close(FORBIDDEN, f"Forbidden: {exc}"[:120])
        tenant = principal.tenant if principal is not None and self.settings.tenancy else None
        self.subscriber = Subscriber(self.ws, principal, tenant)
        self.initialised = True
        self.send({"type": "connection_ack"})
        return None

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.initialised:
            return self.close(UNAUTHORIZED, "Unauthorized")
        sub_id, payload = message.get("id"), message.get("payload")
        if not isinstance(sub_id, str) or not sub_id or not isinstance(payload, dict):
            return self.close(BAD_REQUEST, "Invalid message received: subscribe needs an id and a payload")
        if sub_id in self.subscriptions:
            return self.close(DUPLICATE, f"Subscriber for {sub_id[:40]} already exists")
        self.subscriptions[sub_id] = None
        self.count += 1
        request_id = f"{self.id}-{self.count}"
        active = sum(1 for v in self.subscriptions.values() if v is not None)
        try:
            started = await self.service.start(payload, request_id, self.subscriber, active)
        except Exception:
            log.exception("streaming: subscribe failed (request %s)", request_id)
            started = Refused(
                [{"message": "Internal error", "extensions": {"code": "INTERNAL", "requestId": request_id}}]
            )
        if self.closing is not None or sub_id not in self.subscriptions:  # completed meanwhile
            if isinstance(started, Live):
                self.service.stop(started)
            return None
        if isinstance(started, Refused):
            del self.subscriptions[sub_id]
            self.send({"id": sub_id, "type": "error", "payload": started.errors})
        elif isinstance(started, Single):
            del self.subscriptions[sub_id]
            self.outbox.put_control(
                '{"id":' + orjson.dumps(sub_id).decode() + ',"type":"next","payload":' + started.payload + "}"
            )
            self.send({"id": sub_id, "type": "complete"})
        else:
            started.feed.sink = self.sink_for(sub_id)
            started.feed.end = self.end_for(sub_id)
            self.subscriptions[sub_id] = started
        return None

    def stop(self, sub_id: str) -> None:
        live = self.subscriptions.pop(sub_id, None)
        if live is not None:
            self.service.stop(live)

    def stop_all(self) -> None:
        for sub_id in list(self.subscriptions):
            self.stop(sub_id)


class GraphQLWebSocket:
    """The WebSocket endpoint of one GraphQL endpoint (same path as its HTTP face)."""

    def __init__(
        self, service: LiveService, settings: Settings, authenticate: Authenticate | None = None
    ) -> None:
        self.service = service
        self.settings = settings
        self.authenticate = authenticate or authenticate_init
        self.connections: set[_Connection] = set()

    async def handle(self, websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        if PROTOCOL not in offered:
            await websocket.accept()
            await websocket.close(SUBPROTOCOL, "Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=PROTOCOL)
        self.service.bind(websocket.app.state)
        conn = _Connection(websocket, self.service, self.settings, self.authenticate)
        self.connections.add(conn)
        hub = self.service.hub()

        def missed(reason: str) -> None:
            conn.close(MISSED_NOTICES, f"Missed change notices: {reason}"[:120])

        hub.gap_listeners.add(missed)
        sender = asyncio.create_task(conn.sender())
        reader = asyncio.create_task(self._read(conn))
        closed = asyncio.create_task(conn.closed.wait())
        try:
            timeout = self.settings.stream_init_timeout_s
            done, _ = await asyncio.wait(
                {reader, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done and not conn.initialised:
                conn.close(INIT_TIMEOUT, "Connection initialisation timeout")
            if not conn.closed.is_set():
                await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, closed):
                task.cancel()
            conn.stop_all()
            hub.gap_listeners.discard(missed)
            self.connections.discard(conn)
            if conn.closing is not None:
                sender.cancel()
                with contextlib.suppress(Exception):
                    await websocket.close(*conn.closing)
            else:
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _read(self, conn: _Connection) -> None:
        try:
            while conn.closing is None:
                message = await conn.ws.receive()
                if message["type"] == "websocket.disconnect":
                    conn.closed.set()
                    return
                text = message.get("text")
                if text is None:
                    conn.close(BAD_REQUEST, "Invalid message received: binary frame")
                    return
                await conn.handle(text)
        except (WebSocketDisconnect, RuntimeError):
            conn.closed.set()
