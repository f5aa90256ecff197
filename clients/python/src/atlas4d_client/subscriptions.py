"""Live subscriptions over GraphQL over WebSocket (the `graphql-transport-ws` protocol of graphql-ws, which the
gateway speaks at `/graphql`), on the `websockets` library: its asyncio client for `AsyncClient`, its threaded
client for `Client`. One socket per subscription.

A subscription is *started* once the server has handled its `subscribe` message: entering
`with`/`async with` sends it and then a `ping`, and returns once the `pong` came back (the server answers in
order), so every matching row committed after that is delivered.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack, ExitStack
from types import TracebackType
from typing import Any, Generic, TypeVar

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as connect_sync
from websockets.typing import Subprotocol

from atlas4d_client.calls import FilterArg
from atlas4d_client.errors import Atlas4DError, ErrorDetail, GraphQLError
from atlas4d_client.filters import filter_input
from atlas4d_client.models import OBSERVATION_FIELDS, Observation

T = TypeVar("T")
PROTOCOL = Subprotocol("graphql-transport-ws")
SUBSCRIPTION_ID = "1"


class SubscriptionClosed(Atlas4DError):
    """The server closed the subscription's socket. `close_code` says why (docs/streaming.md): 1012 means the
    server missed change notices; subscribe again and refetch what you show. 4413: this client read too
    slowly."""

    def __init__(self, close_code: int | None, reason: str) -> None:
        super().__init__(
            f"subscription closed ({close_code}): {reason or 'no reason given'}", "SUBSCRIPTION_CLOSED"
        )
        self.close_code = close_code
        self.reason = reason


def websocket_url(base_url: str) -> str:
    """`http(s)://host:port` → `ws(s)://host:port/graphql`."""
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/graphql"


class _Protocol(Generic[T]):
    """The messages of one subscription; what to send and what an incoming message means."""

    def __init__(
        self, query: str, variables: Mapping[str, Any] | None, operation_name: str | None,
        parse: Callable[[dict[str, Any]], T],
    ) -> None:  # fmt: skip
        payload: dict[str, Any] = {"query": query, "variables": dict(variables or {})}
        if operation_name is not None:
            payload["operationName"] = operation_name
        self.init = json.dumps({"type": "connection_init", "payload": {}})
        self.subscribe = json.dumps({"id": SUBSCRIPTION_ID, "type": "subscribe", "payload": payload})
        self.ping = json.dumps({"type": "ping"})
        self.complete = json.dumps({"id": SUBSCRIPTION_ID, "type": "complete"})
        self.parse = parse
        self.done = False

    def read(self, text: str | bytes) -> tuple[str, T | None, str | None]:
        """(`type`, the parsed event for `next`, an answer to send back)."""
        message = json.loads(text)
        kind = message.get("type")
        if kind == "ping":
            return kind, None, json.dumps({"type": "pong"})
        if kind == "next":
            result = message.get("payload") or {}
            if result.get("errors"):
                details = [ErrorDetail.from_json(e) for e in result["errors"]]
                raise GraphQLError(details, result.get("data"), 200)
            return kind, self.parse(result["data"]), None
        if kind == "error":
            self.done = True
            raise GraphQLError([ErrorDetail.from_json(e) for e in message.get("payload") or []], None, 200)
        if kind == "complete":
            self.done = True
        return str(kind), None, None


def _closed(exc: ConnectionClosed) -> SubscriptionClosed:
    frame = exc.rcvd
    return SubscriptionClosed(frame.code if frame else None, frame.reason if frame else "")


class AsyncSubscription(Generic[T]):
    """`async with client.subscribe(...) as events: async for event in events: ...`. A bare `async for` starts
    it on the first step; then `aclose()` it yourself after a `break`."""

    def __init__(
        self, url: str, headers: Mapping[str, str], protocol: _Protocol[T], open_timeout: float
    ) -> None:
        self._url, self._headers, self._p, self._timeout = url, dict(headers), protocol, open_timeout
        self._ws: AsyncConnection | None = None
        self._stack = AsyncExitStack()

    async def start(self) -> AsyncSubscription[T]:
        if self._ws is not None:
            return self
        # entered as a context manager: websockets 17.1+ deprecates a bare connect()
        ws = await self._stack.enter_async_context(
            connect_async(
                self._url,
                subprotocols=[PROTOCOL],
                additional_headers=self._headers,
                open_timeout=self._timeout,
            )
        )
        self._ws = ws
        try:
            await ws.send(self._p.init)
            await self._until(ws, "connection_ack")
            await ws.send(self._p.subscribe)
            await ws.send(self._p.ping)
            await self._until(ws, "pong")
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _until(self, ws: AsyncConnection, wanted: str) -> None:
        while True:
            kind, _, answer = await self._receive(ws)
            if answer:
                await ws.send(answer)
            if kind == wanted:
                return

    async def _receive(self, ws: AsyncConnection) -> tuple[str, T | None, str | None]:
        try:
            return self._p.read(await ws.recv())
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    def __aiter__(self) -> AsyncSubscription[T]:
        return self

    async def __anext__(self) -> T:
        ws = self._ws or (await self.start())._ws
        assert ws is not None
        while not self._p.done:
            kind, event, answer = await self._receive(ws)
            if answer:
                await ws.send(answer)
            if kind == "next":
                return event  # type: ignore[return-value]
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        ws, self._ws = self._ws, None
        if ws is None:
            return
        if not self._p.done:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(self._p.complete)
        await ws.close()

    async def __aenter__(self) -> AsyncSubscription[T]:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class Subscription(Generic[T]):
    """`with client.subscribe(...) as events: for event in events: ...` — blocking, one socket per subscription
    (websockets' threaded client)."""

    def __init__(
        self, url: str, headers: Mapping[str, str], protocol: _Protocol[T], open_timeout: float
    ) -> None:
        self._url, self._headers, self._p, self._timeout = url, dict(headers), protocol, open_timeout
        self._ws: SyncConnection | None = None
        self._stack = ExitStack()

    def start(self) -> Subscription[T]:
        if self._ws is not None:
            return self
        ws = self._stack.enter_context(
            connect_sync(
                self._url,
                subprotocols=[PROTOCOL],
                additional_headers=self._headers,
                open_timeout=self._timeout,
            )
        )
        self._ws = ws
        try:
            ws.send(self._p.init)
            self._until(ws, "connection_ack")
            ws.send(self._p.subscribe)
            ws.send(self._p.ping)
            self._until(ws, "pong")
        except BaseException:
            self.close()
            raise
        return self

    def _until(self, ws: SyncConnection, wanted: str) -> None:
        while True:
            kind, _, answer = self._receive(ws, None)
            if answer:
                ws.send(answer)
            if kind == wanted:
                return

    def _receive(self, ws: SyncConnection, timeout: float | None) -> tuple[str, T | None, str | None]:
        try:
            return self._p.read(ws.recv(timeout))
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    def next(self, timeout: float | None = None) -> T:
        """The next event; `TimeoutError` when none came within `timeout` seconds (None: wait forever)."""
        ws = self._ws or self.start()._ws
        assert ws is not None
        while not self._p.done:
            kind, event, answer = self._receive(ws, timeout)
            if answer:
                ws.send(answer)
            if kind == "next":
                return event  # type: ignore[return-value]
        self.close()
        raise StopIteration

    def __iter__(self) -> Subscription[T]:
        return self

    def __next__(self) -> T:
        return self.next()

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is None:
            return
        if not self._p.done:
            with contextlib.suppress(ConnectionClosed):
                ws.send(self._p.complete)
        ws.close()

    def __enter__(self) -> Subscription[T]:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def protocol(
    query: str, variables: Mapping[str, Any] | None, operation_name: str | None,
    parse: Callable[[dict[str, Any]], T],
) -> _Protocol[T]:  # fmt: skip
    return _Protocol(query, variables, operation_name, parse)


def observation_added(filter: FilterArg) -> _Protocol[Observation]:
    """`observationAdded(filter:)` with the SDK's observation fields, parsed into `Observation`s."""
    query = (
        "subscription Atlas4DObservationAdded($filter: ObservationFilter)"
        f" {{ observationAdded(filter: $filter) {{ {OBSERVATION_FIELDS} }} }}"
    )
    variables = {"filter": filter_input(filter)}
    return _Protocol(query, variables, None, lambda d: Observation.from_json(d["observationAdded"]))
