"""The connector loop every broker shares: receive a batch, validate, store once, dead-letter, acknowledge.

Delivery is at least once and storage exactly once: a message is acknowledged only after the transaction
holding its rows committed (or, for a bad message, after its dead letter was published), and the rows carry
idempotency keys (`atlas4d.connectors.store`), so whatever the broker redelivers after a crash, a restart or
a lost acknowledgement is recognised and not stored again. Stopping (SIGTERM/SIGINT) ends the loop between
batches: the batch in hand is stored and acknowledged first; messages received but not yet in a batch are
never acknowledged, so the broker delivers them again to the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import orjson

from atlas4d.connectors.messages import MessageError, ValidBatch, validate_messages
from atlas4d.connectors.metrics import ConnectorMetrics
from atlas4d.connectors.store import Stored, store_batch
from atlas4d.db.pool import connect
from atlas4d.settings import Settings

log = logging.getLogger("atlas4d.connectors")
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
CONNECTION_ERRORS = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, TimeoutError)


@dataclass
class Message:
    """One broker message: its body, where it came from, when it arrived (monotonic), and the broker's
    handle for acknowledging it."""

    body: bytes
    origin: str
    received: float
    handle: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


class BrokerUnavailable(Exception):
    """The broker cannot be reached right now; the worker waits and tries again."""


class Source(Protocol):
    kind: str

    async def start(self) -> None: ...

    async def receive(self, limit: int, wait_s: float) -> list[Message]:
        """Up to `limit` messages, waiting at most `wait_s` s for the first (and not past it for more)."""
        ...

    async def ack(self, messages: Sequence[Message]) -> None: ...

    async def dead_letter(self, message: Message, envelope: bytes) -> None: ...

    def pending(self) -> int | None: ...

    async def close(self) -> None: ...


def dead_letter_envelope(source: str, message: Message, error: MessageError) -> bytes:
    """What goes to the dead-letter topic: the error (the mutation's code and wording) and the message."""
    return orjson.dumps(
        {
            "error": error.as_json(),
            "source": source,
            "origin": message.origin,
            "payload": message.body.decode("utf-8", "replace"),
        }
    )


class Worker:
    def __init__(
        self,
        settings: Settings,
        dsn: str,
        source: Source,
        *,
        name: str,
        tenant: str | None = None,
        metrics: ConnectorMetrics | None = None,
    ) -> None:
        self.settings, self.dsn, self.source, self.name, self.tenant = settings, dsn, source, name, tenant
        self.metrics = metrics if metrics is not None else ConnectorMetrics(source.kind, name)
        self.stop = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

    async def run(self) -> None:
        """Until `stop` is set: receive, store, acknowledge. Returns after the last batch is acknowledged."""
        backoff = RETRY_MIN_S
        await self._retry(self.source.start)
        log.info("%s: receiving from %s", self.name, self.source.kind)
        try:
            while not self.stop.is_set():
                try:
                    batch = await self.source.receive(
                        self.settings.connect_batch_rows, self.settings.connect_batch_ms / 1000
                    )
                except BrokerUnavailable as exc:
                    self.metrics.errors.inc()
                    log.warning("%s: broker unavailable (%s); retrying in %.1f s", self.name, exc, backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, RETRY_MAX_S)
                    continue
                backoff = RETRY_MIN_S
                pending = self.source.pending()
                if pending is not None:
                    self.metrics.pending.set(pending)
                if batch:
                    await self.handle(batch)
        finally:
            await self.source.close()
            if self._conn is not None:
                await self._conn.close()

    async def handle(self, batch: list[Message]) -> None:
        """Validate, store, dead-letter and acknowledge one batch (the store retried until it commits)."""
        valid = validate_messages([m.body for m in batch])
        stored = await self._store(valid)
        if stored is None:
            return  # stopped before the commit: nothing acknowledged, the broker redelivers
        done = [m for i, m in enumerate(batch) if i not in valid.errors]
        newest = max((r[0] for r in valid.rows), default=None)
        self.metrics.committed(
            stored=stored.rows,
            duplicates=stored.duplicates,
            messages=len(done),
            received=[m.received for m in done],
            newest=newest.timestamp() if newest is not None else None,
        )
        for i, error in sorted(valid.errors.items()):
            try:
                await self.source.dead_letter(batch[i], dead_letter_envelope(self.name, batch[i], error))
            except Exception as exc:  # not acknowledged: it comes back and is dead-lettered again
                self.metrics.errors.inc()
                log.warning("%s: dead letter not published (%s); left unacknowledged", self.name, exc)
                continue
            self.metrics.dead_lettered()
            done.append(batch[i])
        try:
            await self.source.ack(done)
        except Exception as exc:  # stored already; the redelivery is recognised by its keys
            self.metrics.errors.inc()
            log.warning("%s: acknowledgement failed (%s); redeliveries will be skipped", self.name, exc)

    async def _store(self, valid: ValidBatch) -> Stored | None:
        backoff = RETRY_MIN_S
        while True:
            try:
                conn = await self._connection()
                return await store_batch(
                    conn, self.name, valid, copy_threshold=self.settings.copy_threshold, tenant=self.tenant
                )
            # a refusal validation did not foresee is retried too (and counted): the batch is never lost,
            # and atlas4d_connector_errors shows the stall
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                self.metrics.errors.inc()
                log.warning("%s: database unavailable (%s); retrying in %.1f s", self.name, exc, backoff)
                await self._drop_connection()
                if self.stop.is_set():
                    return None
                await self._sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await connect(self.settings, self.dsn)
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _retry(self, start: Any) -> None:
        backoff = RETRY_MIN_S
        while not self.stop.is_set():
            try:
                await start()
                return
            except BrokerUnavailable as exc:
                self.metrics.errors.inc()
                log.warning("%s: broker unavailable (%s); retrying in %.1f s", self.name, exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)
