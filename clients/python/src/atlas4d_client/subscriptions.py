"""Live subscriptions over GraphQL over WebSocket (the `graphql-transport-ws` protocol of graphql-ws, which the
gateway speaks at `/graphql`), on the `websockets` library: its asyncio client for `AsyncClient`, its threaded
client for `Client`. One socket per subscription.

A subscription is *started* once the server has handled its `subscribe` message: entering
`with`/`async with` sends it and then a `ping`, and returns once the `pong` came back (the server answers in
order), so every matching row committed after that is delivered.

When the socket closes for a reason that a new socket can cure — the server restarted or is going away
(1001, 1012: also a replica that missed change notices, or a broker relay taking over), the connection dropped
(1005, 1006, no close frame), or try again later (1013, 1014) — the subscription connects and subscribes again
by itself, with the same backoff as the ingest retries (`RetryPolicy`; `reconnect=None` turns it off), and
then calls `on_resubscribe`: rows committed while it was away are not replayed, so that is where a caller
refetches what it shows. The codes are graphql-ws's own retryable set, less 1000 (a normal end). Anything else
(4403 forbidden, 4413 too slow, a GraphQL error) ends the subscription with `SubscriptionClosed` as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, ExitStack
from types import TracebackType
from typing import Any, Generic, TypeVar

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as connect_sync
from websockets.typing import Subprotocol

from atlas4d_client.calls import FilterArg
from atlas4d_client.errors import Atlas4DError, ErrorDetail, GraphQLError
from atlas4d_client.filters import filter_input
from atlas4d_client.ingest import RetryPolicy
from atlas4d_client.models import OBSERVATION_FIELDS, Observation

T = TypeVar("T")
PROTOCOL = Subprotocol("graphql-transport-ws")
SUBSCRIPTION_ID = "1"
RECONNECT_CLOSE_CODES = frozenset({None, 1001, 1005, 1006, 1012, 1013, 1014})
"""Close codes after which a new socket may succeed (None: the connection dropped without a close frame)."""
DEFAULT_RECONNECT = RetryPolicy(attempts=6)
"""Five reconnects, 0.5 s to 8 s apart (about 15 s in all), like graphql-ws's five retries."""
CONNECT_ERRORS = (OSError, InvalidHandshake, TimeoutError)
"""What a failed reconnect raises besides `SubscriptionClosed`: refused, bad handshake, timed out."""


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

    @property
    def can_reconnect(self) -> bool:
        return self.close_code in RECONNECT_CLOSE_CODES


OnResubscribe = Callable[[], Awaitable[None] | None]
"""Called after the subscription connected and subscribed again (see the module docstring)."""


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
    it on the first step; then `aclose()` it yourself after a `break`. `resubscriptions` counts the
    reconnects so far."""

    def __init__(
        self, url: str, headers: Mapping[str, str], protocol: _Protocol[T], open_timeout: float,
        reconnect: RetryPolicy | None = DEFAULT_RECONNECT, on_resubscribe: OnResubscribe | None = None,
    ) -> None:  # fmt: skip
        self._url, self._headers, self._p, self._timeout = url, dict(headers), protocol, open_timeout
        self._reconnect, self._on_resubscribe = reconnect, on_resubscribe
        self._ws: AsyncConnection | None = None
        self._stack = AsyncExitStack()
        self.resubscriptions = 0

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
        while True:
            try:
                return await self._next_event()
            except SubscriptionClosed as closed:
                if not closed.can_reconnect or self._reconnect is None or not await self._resubscribe(closed):
                    raise

    async def _next_event(self) -> T:
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

    async def _resubscribe(self, closed: SubscriptionClosed) -> bool:
        """Connect and subscribe again; False when every attempt failed."""
        assert self._reconnect is not None
        await self._drop()
        for attempt in range(self._reconnect.attempts - 1):
            await asyncio.sleep(self._reconnect.delay(attempt, closed))
            try:
                await self.start()
            except (SubscriptionClosed, *CONNECT_ERRORS) as exc:
                if isinstance(exc, SubscriptionClosed) and not exc.can_reconnect:
                    raise
                await self._drop()
                continue
            self.resubscriptions += 1
            if self._on_resubscribe is not None:
                done = self._on_resubscribe()
                if inspect.isawaitable(done):
                    await done
            return True
        return False

    async def _drop(self) -> None:
        """Forget a closed socket (closing it if it is not)."""
        self._ws = None
        stack, self._stack = self._stack, AsyncExitStack()
        with contextlib.suppress(ConnectionClosed, OSError):
            await stack.aclose()

    async def aclose(self) -> None:
        ws = self._ws
        if ws is None:
            return
        if not self._p.done:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(self._p.complete)
        await self._drop()

    async def __aenter__(self) -> AsyncSubscription[T]:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class Subscription(Generic[T]):
    """`with client.subscribe(...) as events: for event in events: ...` — blocking, one socket per subscription
    (websockets' threaded client). `resubscriptions` counts the reconnects so far."""

    def __init__(
        self, url: str, headers: Mapping[str, str], protocol: _Protocol[T], open_timeout: float,
        reconnect: RetryPolicy | None = DEFAULT_RECONNECT, on_resubscribe: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self._url, self._headers, self._p, self._timeout = url, dict(headers), protocol, open_timeout
        self._reconnect, self._on_resubscribe = reconnect, on_resubscribe
        self._ws: SyncConnection | None = None
        self._stack = ExitStack()
        self.resubscriptions = 0

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
        """The next event; `TimeoutError` when none came within `timeout` seconds (None: wait forever).
        A reconnect (module docstring) happens inside this call; `timeout` applies to each wait for a
        message, not to the reconnect."""
        while True:
            try:
                return self._next_event(timeout)
            except SubscriptionClosed as closed:
                if not closed.can_reconnect or self._reconnect is None or not self._resubscribe(closed):
                    raise

    def _next_event(self, timeout: float | None) -> T:
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

    def _resubscribe(self, closed: SubscriptionClosed) -> bool:
        """Connect and subscribe again; False when every attempt failed."""
        assert self._reconnect is not None
        self._drop()
        for attempt in range(self._reconnect.attempts - 1):
            time.sleep(self._reconnect.delay(attempt, closed))
            try:
                self.start()
            except (SubscriptionClosed, *CONNECT_ERRORS) as exc:
                if isinstance(exc, SubscriptionClosed) and not exc.can_reconnect:
                    raise
                self._drop()
                continue
            self.resubscriptions += 1
            if self._on_resubscribe is not None:
                self._on_resubscribe()
            return True
        return False

    def _drop(self) -> None:
        """Forget a closed socket (closing it if it is not)."""
        self._ws = None
        stack, self._stack = self._stack, ExitStack()
        with contextlib.suppress(ConnectionClosed, OSError):
            stack.close()

    def __iter__(self) -> Subscription[T]:
        return self

    def __next__(self) -> T:
        return self.next()

    def close(self) -> None:
        ws = self._ws
        if ws is None:
            return
        if not self._p.done:
            with contextlib.suppress(ConnectionClosed):
                ws.send(self._p.complete)
        self._drop()

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
