"""The one way change notices travel between processes: the `Broker` protocol, and PostgreSQL LISTEN/NOTIFY.

Every writer of the core tables notifies through the database triggers of migration 0009 (so nothing that
writes can forget to, and notices go out only on commit, in commit order). A broker delivers them to the
subscribers of its process: `PostgresBroker` LISTENs on its own connection (the default); `atlas4d.streaming.
relay` carries them over NATS or Redis when configured (streaming/relay.py says when that helps).

A broker that loses its connection reconnects with backoff and reports the gap (`on_gap`): notices sent
while it was away are lost for its subscribers, which are told (docs/streaming.md, "Delivery guarantees").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg

from atlas4d.streaming.changes import CHANNEL

log = logging.getLogger("atlas4d.streaming")

NoticeHandler = Callable[[str], None]
GapHandler = Callable[[str], None]


class Broker(Protocol):
    """Carries notice payloads (migration 0009's text) to `on_notice`, in the order they were published."""

    name: str

    async def start(self, on_notice: NoticeHandler, on_gap: GapHandler) -> None: ...

    async def publish(self, payload: str) -> None: ...

    async def aclose(self) -> None: ...


class PostgresBroker:
    """LISTEN `atlas4d_changes` on a dedicated connection (not the pool's: a pooled connection is shared)."""

    name = "postgres"

    def __init__(self, dsn: str, *, connect: Callable[[str], Any] | None = None) -> None:
        self.dsn = dsn
        self._connect = connect or asyncpg.connect
        self._conn: asyncpg.Connection | None = None
        self._on_notice: NoticeHandler | None = None
        self._on_gap: GapHandler | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self, on_notice: NoticeHandler, on_gap: GapHandler) -> None:
        self._on_notice, self._on_gap = on_notice, on_gap
        await self._listen()

    async def _listen(self) -> None:
        conn: asyncpg.Connection = await self._connect(self.dsn)
        await conn.add_listener(CHANNEL, self._notified)
        conn.add_termination_listener(self._terminated)
        self._conn = conn

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        assert self._on_notice is not None
        self._on_notice(str(payload))

    def _terminated(self, _conn: Any) -> None:
        if self._closed or self._reconnect is not None:
            return
        self._conn = None
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = 0.2
        try:
            while not self._closed:
                try:
                    await self._listen()
                except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                    log.warning("streaming: LISTEN connection lost, retrying in %.1f s (%s)", delay, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                log.warning("streaming: LISTEN connection back; notices sent meanwhile were missed")
                if self._on_gap is not None:
                    self._on_gap("the server lost its database notification connection for a moment")
                return
        finally:
            self._reconnect = None

    async def publish(self, payload: str) -> None:
        conn = self._conn
        if conn is None:
            raise ConnectionError("the LISTEN connection is down")
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

    async def aclose(self) -> None:
        self._closed = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
