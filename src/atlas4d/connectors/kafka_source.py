"""Kafka source (aiokafka): a consumer group with offsets committed by hand after the commit.

Auto-commit is off; after a batch's rows committed, each partition's offset is committed up to (not past)
the first message of the batch that is not done, so a message whose dead letter could not be published is
consumed again after a restart or rebalance. Dead letters go to `dead_letter_topic` through an idempotent
producer (`acks=all`). Tested against Tansu (a Kafka-protocol broker, tests/connectors/test_kafka.py) with
the producer's idempotence off, which Tansu 0.6 does not support; not against Apache Kafka itself, which
cannot run on the machine this was built on (docs/connectors.md).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from atlas4d.connectors.worker import BrokerUnavailable, Message


def commit_offsets(batch: Sequence[Message], done: Sequence[Message]) -> dict[TopicPartition, int]:
    """Per partition, the offset to commit: one past the last message of an unbroken run of done ones."""
    finished = {id(m) for m in done}
    out: dict[TopicPartition, int] = {}
    blocked: set[TopicPartition] = set()
    for m in batch:
        tp, offset = m.handle
        if tp in blocked:
            continue
        if id(m) in finished:
            out[tp] = offset + 1
        else:
            blocked.add(tp)
    return out


class KafkaSource:
    kind = "kafka"

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        *,
        group: str,
        dead_letter_topic: str,
        idempotent_producer: bool = True,
    ) -> None:
        self.bootstrap, self.topics, self.group = bootstrap, list(topics), group
        self.dead_letter_topic = dead_letter_topic
        # off only for brokers without InitProducerId (Tansu 0.6, which the tests run): a retried dead letter
        # may then be published twice
        self.idempotent_producer = idempotent_producer
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._batch: list[Message] = []
        self._pending: int | None = None

    def consumer_options(self) -> dict[str, object]:
        return {
            "bootstrap_servers": self.bootstrap,
            "group_id": self.group,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "isolation_level": "read_committed",
        }

    async def start(self) -> None:
        try:
            self._consumer = AIOKafkaConsumer(*self.topics, **self.consumer_options())
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=self.idempotent_producer
            )
            await self._consumer.start()
            await self._producer.start()
        except (KafkaError, OSError) as exc:
            await self.close()
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def receive(self, limit: int, wait_s: float) -> list[Message]:
        if self._consumer is None:
            await self.start()
        assert self._consumer is not None
        try:
            got = await self._consumer.getmany(timeout_ms=int(wait_s * 1000), max_records=limit)
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        now = time.monotonic()
        out: list[Message] = []
        pending = 0
        for tp, records in got.items():
            out.extend(Message(r.value or b"", r.topic, now, (tp, r.offset)) for r in records)
            high = self._consumer.highwater(tp)
            if high is not None and records:
                pending += max(high - records[-1].offset - 1, 0)
        if got:
            self._pending = pending
        self._batch = out
        return out

    async def ack(self, messages: Sequence[Message]) -> None:
        if self._consumer is None or not messages:
            return
        offsets = commit_offsets(self._batch, messages)
        if offsets:
            await self._consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})

    async def dead_letter(self, message: Message, envelope: bytes) -> None:
        if self._producer is None:
            raise BrokerUnavailable("not connected")
        try:
            await self._producer.send_and_wait(self.dead_letter_topic, envelope)
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def pending(self) -> int | None:
        return self._pending

    async def close(self) -> None:
        consumer, producer, self._consumer, self._producer = self._consumer, self._producer, None, None
        for client in (consumer, producer):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    await client.stop()
