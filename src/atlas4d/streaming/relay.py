"""Change notices over Redis pub/sub or NATS (`ATLAS4D_STREAM_BROKER=redis|nats`) instead of one LISTEN per
server process.

One process at a time is the *relay*: it holds the PostgreSQL advisory lock `RELAY_LOCK` on its LISTEN
connection and republishes every notice unchanged, in order, on the bus (`ATLAS4D_STREAM_BROKER_URL`, subject or
channel `ATLAS4D_STREAM_SUBJECT`), with a heartbeat every `HEARTBEAT_S`. Every process with subscribers —
the relay too — takes its notices from the bus, so the database sees one LISTEN connection however many
replicas serve subscriptions; the bus carries a notice to all of them.

A process that hears nothing from the bus for `TAKEOVER_S` tries the lock (a relay that died released it with
its session) and becomes the relay. Notices committed between the old relay's end and the new one's LISTEN
cannot be replayed: a new relay that had heard an earlier one first publishes a gap marker, and every process
tells its subscribers (WebSocket close 1012, SSE `MISSED_NOTICES`) — the same guarantee as a LISTEN connection
that drops (broker.py). When is this worth it: many replicas (each LISTEN is a connection and a backend that
PostgreSQL wakes for every notice), or a database that limits connections (poolers in transaction mode cannot
LISTEN at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg

from atlas4d.streaming.broker import GapHandler, NoticeHandler
from atlas4d.streaming.changes import CHANNEL

log = logging.getLogger("atlas4d.streaming")

RELAY_LOCK = 0x61746C34  # "atl4": pg_try_advisory_lock key of the relay
HEARTBEAT_S = 1.0
TAKEOVER_S = 3.0
HEARTBEAT, GAP = "h;", "g;"


class Bus(Protocol):
    async def subscribe(self, on_message: Callable[[str], None]) -> None: ...

    async def publish(self, text: str) -> None: ...

    async def aclose(self) -> None: ...


class RedisBus:
    def __init__(self, url: str, channel: str) -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(url)
        self.channel = channel
        self._reader: asyncio.Task[None] | None = None

    async def subscribe(self, on_message: Callable[[str], None]) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)

        async def read() -> None:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "message":
                    on_message(message["data"].decode())

        self._reader = asyncio.create_task(read())

    async def publish(self, text: str) -> None:
        await self.client.publish(self.channel, text)

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self.client.aclose()


class NatsBus:
    def __init__(self, url: str, subject: str) -> None:
        self.url = url
        self.subject = subject
        self.nc: Any = None

    async def subscribe(self, on_message: Callable[[str], None]) -> None:
        import nats

        self.nc = await nats.connect(self.url, max_reconnect_attempts=-1)

        async def received(msg: Any) -> None:
            on_message(msg.data.decode())

        await self.nc.subscribe(self.subject, cb=received)

    async def publish(self, text: str) -> None:
        await self.nc.publish(self.subject, text.encode())

    async def aclose(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()


def bus_for(kind: str, url: str, subject: str) -> Bus:
    if kind == "redis":
        return RedisBus(url, subject)
    if kind == "nats":
        return NatsBus(url, subject)
    raise ValueError(f"unknown stream broker {kind!r}")


class RelayBroker:
    """A `Broker` that takes notices from a bus, and relays PostgreSQL's onto it while it holds the lock."""

    def __init__(self, dsn: str, bus: Bus, *, name: str = "relay") -> None:
        self.name = name
        self.dsn = dsn
        self.bus = bus
        self.relaying = False
        self._conn: asyncpg.Connection | None = None
        self._on_notice: NoticeHandler | None = None
        self._on_gap: GapHandler | None = None
        self._heard: float | None = None  # monotonic time of the last bus message
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, on_notice: NoticeHandler, on_gap: GapHandler) -> None:
        self._on_notice, self._on_gap = on_notice, on_gap
        await self.bus.subscribe(self._received)
        await self._try_to_relay(heard_before=False)
        self._tasks = [asyncio.create_task(self._watch()), asyncio.create_task(self._publisher())]

    def _received(self, text: str) -> None:
        self._heard = time.monotonic()
        if text == HEARTBEAT:
            return
        if text.startswith(GAP):
            assert self._on_gap is not None
            self._on_gap(text[len(GAP) :] or "the notice relay changed")
            return
        assert self._on_notice is not None
        self._on_notice(text)

    async def _try_to_relay(self, *, heard_before: bool) -> None:
        try:
            conn: asyncpg.Connection = await asyncpg.connect(self.dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("streaming: cannot reach the database to relay notices (%s)", exc)
            return
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
                await conn.close()
                return
            await conn.add_listener(CHANNEL, self._notified)
            conn.add_termination_listener(self._lost)
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        self._conn, self.relaying = conn, True
        log.info("streaming: this process relays change notices to the %s bus", self.name)
        if heard_before:  # an earlier relay ended: what was committed in between is lost
            await self.bus.publish(GAP + "the notice relay changed; notices may have been missed")

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        self._outgoing.put_nowait(str(payload))

    def _lost(self, _conn: Any) -> None:
        self._conn, self.relaying = None, False
        log.warning("streaming: the relay's LISTEN connection dropped; another process takes over")

    async def _publisher(self) -> None:
        while True:
            text = await self._outgoing.get()
            try:
                await self.bus.publish(text)
            except Exception:  # the bus is down: subscribers miss it; they hear a gap when it is back
                log.exception("streaming: could not publish a notice on the %s bus", self.name)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if self.relaying:
                self._outgoing.put_nowait(HEARTBEAT)
                continue
            if self._heard is None or time.monotonic() - self._heard > TAKEOVER_S:
                await self._try_to_relay(heard_before=self._heard is not None)

    async def publish(self, payload: str) -> None:
        await self.bus.publish(payload)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
        await self.bus.aclose()
