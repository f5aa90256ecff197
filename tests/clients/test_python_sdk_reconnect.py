"""The Python SDK subscribes again by itself after a close that a new socket can cure (1012 and friends), calls
`on_resubscribe`, and gives up after its `RetryPolicy`; other closes still end the subscription.

The protocol cases run against a small graphql-transport-ws server written here with `websockets` (it closes
when told to, which the real server only does on a fault); the last test makes the real server close with 1012
by killing its LISTEN connection in PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import pytest
from clients_server import LiveServer
from websockets.asyncio.server import ServerConnection, serve

from atlas4d_client import (
    AsyncClient,
    BBox,
    Client,
    ObservationFilter,
    ObservationInput,
    RetryPolicy,
    SubscriptionClosed,
)

DROP = 0
FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05)


@dataclass
class Script:
    """What the fake server does on its n-th connection after its one event: close with this code, drop the
    TCP connection without a close frame (DROP), or stay open (None)."""

    closes: list[int | None]
    refuse_again: bool = False
    """Close every socket after the first before it answers the subscription's ping (a failed reconnect)."""
    connections: int = 0
    subscribes: list[str] = field(default_factory=list)


async def _handle(ws: ServerConnection, script: Script) -> None:
    number = script.connections
    script.connections += 1
    close = script.closes[min(number, len(script.closes) - 1)]
    async for raw in ws:
        message = json.loads(raw)
        if message["type"] == "connection_init":
            await ws.send(json.dumps({"type": "connection_ack"}))
        elif message["type"] == "subscribe":
            script.subscribes.append(message["id"])
            if number and script.refuse_again:
                await ws.close(close or 1012, "scripted")
                return
        elif message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            event = {"data": {"n": number}}
            await ws.send(json.dumps({"id": message.get("id", "1"), "type": "next", "payload": event}))
            if close == DROP:
                ws.transport.abort()
                return
            if close is not None:
                await ws.close(close, "scripted")
                return


@asynccontextmanager
async def fake_server(script: Script) -> AsyncIterator[str]:
    async with serve(
        lambda ws: _handle(ws, script), "127.0.0.1", 0, subprotocols=["graphql-transport-ws"]
    ) as s:  # type: ignore[list-item]
        port = s.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"


@contextmanager
def fake_server_thread(script: Script) -> Iterator[str]:
    """The same server on a loop in a thread, for the blocking client."""
    ready: list[tuple[str, asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stop = asyncio.Event()
        async with fake_server(script) as url:
            ready.append((url, asyncio.get_running_loop(), stop))
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    while not ready:
        thread.join(0.01)
    url, loop, stop = ready[0]
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)


async def test_async_resubscribes_after_1012_and_calls_back() -> None:
    script = Script(closes=[1012, None])
    called: list[int] = []

    async def refetch() -> None:
        called.append(1)

    async with fake_server(script) as url, AsyncClient(url=url) as client:
        events = client.subscribe("subscription { n }", reconnect=FAST, on_resubscribe=refetch)
        async with events:
            got = [await asyncio.wait_for(anext(events), 30) for _ in range(2)]
        assert got == [{"n": 0}, {"n": 1}]  # the second socket's event, after the 1012
        assert (events.resubscriptions, called, script.connections, len(script.subscribes)) == (1, [1], 2, 2)


def test_blocking_client_resubscribes_too() -> None:
    script = Script(closes=[1001, DROP, None])
    called: list[int] = []
    with fake_server_thread(script) as url, Client(url=url) as client:
        with client.subscribe(
            "subscription { n }", reconnect=FAST, on_resubscribe=lambda: called.append(1)
        ) as e:
            got = [e.next(timeout=10) for _ in range(3)]
        assert got == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert (e.resubscriptions, len(called), script.connections) == (2, 2, 3)


async def test_gives_up_after_its_policy_with_the_last_close_code() -> None:
    script = Script(closes=[1012], refuse_again=True)  # every reconnect is closed before it is started
    async with fake_server(script) as url, AsyncClient(url=url) as client:
        async with client.subscribe("subscription { n }", reconnect=FAST) as events:
            assert await anext(events) == {"n": 0}
            with pytest.raises(SubscriptionClosed) as closed:
                await asyncio.wait_for(anext(events), 30)
        assert closed.value.close_code == 1012
        assert script.connections == FAST.attempts  # the first socket and attempts - 1 reconnects


@pytest.mark.parametrize(("code", "reconnect"), [(4403, FAST), (4413, FAST), (1000, FAST), (1012, None)])
async def test_other_closes_or_no_policy_end_the_subscription(
    code: int, reconnect: RetryPolicy | None
) -> None:
    script = Script(closes=[code, None])
    async with fake_server(script) as url, AsyncClient(url=url) as client:
        async with client.subscribe("subscription { n }", reconnect=reconnect) as events:
            assert await anext(events) == {"n": 0}
            with pytest.raises((SubscriptionClosed, StopAsyncIteration)) as closed:
                await asyncio.wait_for(anext(events), 30)
        if isinstance(closed.value, SubscriptionClosed):
            assert closed.value.close_code == code
        assert script.connections == 1


async def test_real_server_losing_its_listen_connection(live: LiveServer) -> None:
    """The server closes its subscribers with 1012 when its LISTEN connection drops; the SDK subscribes again,
    calls back, and receives what is written afterwards."""
    box = BBox(12.0, -43.0, 12.5, -42.5)
    entity = str(uuid.uuid4())
    resubscribed = asyncio.Event()
    async with (
        AsyncClient(url=live.url) as client,
        client.observations.subscribe(
            ObservationFilter(bbox=box),
            reconnect=RetryPolicy(attempts=6, backoff=0.2),
            on_resubscribe=resubscribed.set,
        ) as live_events,
    ):
        admin = await asyncpg.connect(live.database_url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        assert killed >= 1
        reading = asyncio.ensure_future(anext(live_events))  # the 1012 and the reconnect happen in here
        await asyncio.wait_for(resubscribed.wait(), 60)
        at = datetime(2025, 6, 1, 12, tzinfo=UTC)
        await client.ingest(
            [ObservationInput(time=at, lon=12.2, lat=-42.7, entity_id=entity, entity_kind="py-test")]
        )
        first = await asyncio.wait_for(reading, 30)
        assert (first.lon, first.entity_id) == (12.2, entity)
        assert live_events.resubscriptions == 1
