"""NATS JetStream source: a durable pull consumer with explicit acks after the commit.

The consumer is durable (named `durable`), so JetStream remembers what was acknowledged across connector
and server restarts, and redelivers a message not acknowledged within `ack_wait` seconds. Dead letters
are published with JetStream (`js.publish`, acknowledged by the stream that captures the dead-letter
subject); with no such stream they go out on core NATS (at most once), which the log says.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from atlas4d.connectors.worker import BrokerUnavailable, Message

log = logging.getLogger("atlas4d.connectors")


class NatsSource:
    kind = "nats"

    def __init__(
        self,
        url: str,
        subject: str,
        *,
        durable: str,
        dead_letter_subject: str,
        stream: str | None = None,
        ack_wait_s: float = 30.0,
    ) -> None:
        self.url, self.subject, self.durable, self.stream = url, subject, durable, stream
        self.dead_letter_subject, self.ack_wait_s = dead_letter_subject, ack_wait_s
        self._nc: NatsClient | None = None
        self._sub: nats.js.JetStreamContext.PullSubscription | None = None
        self._pending: int | None = None

    async def start(self) -> None:
        try:
            if self._nc is None:
                self._nc = await nats.connect(
                    self.url,
                    name=f"atlas4d-connect-{self.durable}",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=5,
                )
            config = ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.ack_wait_s,
                max_ack_pending=-1,
            )
            self._sub = await self._nc.jetstream().pull_subscribe(
                self.subject, durable=self.durable, stream=self.stream, config=config
            )
        except nats.js.errors.NotFoundError as exc:
            raise BrokerUnavailable(f"no JetStream stream captures {self.subject!r} (yet)") from exc
        except (nats.errors.Error, OSError) as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def receive(self, limit: int, wait_s: float) -> list[Message]:
        if self._sub is None:
            await self.start()
        assert self._sub is not None
        try:
            got = await self._sub.fetch(limit, timeout=max(wait_s, 0.05))
        except nats.errors.TimeoutError:
            return []
        except (nats.errors.Error, OSError) as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        now = time.monotonic()
        if got:
            self._pending = got[-1].metadata.num_pending
        return [Message(m.data, m.subject, now, m) for m in got]

    async def ack(self, messages: Sequence[Message]) -> None:
        if not messages or self._nc is None:
            return
        for m in messages:
            await m.handle.ack()
        await self._nc.flush(timeout=5)

    async def dead_letter(self, message: Message, envelope: bytes) -> None:
        if self._nc is None:
            raise BrokerUnavailable("not connected")
        try:
            await self._nc.jetstream().publish(self.dead_letter_subject, envelope, timeout=5)
        except nats.js.errors.NoStreamResponseError:
            log.warning("no stream captures %s: dead letter sent on core NATS", self.dead_letter_subject)
            await self._nc.publish(self.dead_letter_subject, envelope)
        except (nats.errors.Error, OSError) as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def pending(self) -> int | None:
        return self._pending

    async def close(self) -> None:
        nc, self._nc, self._sub = self._nc, None, None
        if nc is not None and not nc.is_closed:
            # acks were flushed after each batch; a drain would wait on the pull subscription for nothing
            with contextlib.suppress(nats.errors.Error, OSError):
                await nc.close()
