"""`atlas4d connect kafka` (aiokafka) against a real Kafka-protocol broker: Tansu, started per test (see
`brokers.Tansu`): messages stored, bad ones dead-lettered with the mutation's error, offsets committed only
after the rows committed, and a redelivery after a lost commit recognised and not stored again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from brokers import Tansu, body, stored, wait_for

from atlas4d.connectors.kafka_source import KafkaSource
from atlas4d.connectors.worker import Message, Worker
from atlas4d.settings import Settings


def worker(settings: Settings, broker: Tansu, database_url: str, run: str) -> Worker:
    source = KafkaSource(
        broker.url, ["obs"], group=f"g-{run[:8]}", dead_letter_topic="obs.dead", idempotent_producer=False
    )
    fast = settings.model_copy(update={"connect_batch_ms": 50, "connect_batch_rows": 500})
    return Worker(fast, database_url, source, name=f"test-{run}")


async def publish(broker: Tansu, payloads: Sequence[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.url, acks="all")
    await producer.start()
    try:
        for payload in payloads:
            await producer.send_and_wait("obs", payload)
    finally:
        await producer.stop()


async def committed_offsets(broker: Tansu, group: str) -> int:
    """The offsets the group committed on `obs`, summed over its partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.url, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic("obs") or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic("obs") or set()
        total = 0
        for p in partitions:
            offset = await consumer.committed(TopicPartition("obs", p))
            total += offset or 0
        return total
    finally:
        await consumer.stop()


async def dead_letters(broker: Tansu, count: int) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        "obs.dead", bootstrap_servers=broker.url, group_id="reader", auto_offset_reset="earliest"
    )
    await consumer.start()
    letters: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    try:
        while len(letters) < count and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=500)
            letters += [orjson.loads(r.value or b"") for records in got.values() for r in records]
    finally:
        await consumer.stop()
    return letters


async def test_messages_are_stored_and_bad_ones_dead_lettered_with_the_mutations_error(
    kafka_broker: Tansu, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    run = str(uuid.uuid4())
    bad = {
        b"{not json": ("INVALID_ITEM", "is not valid JSON"),
        body(100, run, lon=200): ("INVALID_ITEM", "observations[0].lon: must be within -180..180, got 200"),
        body(101, run, time="2026-01-01T00:00:00"): (
            "INVALID_ITEM",
            "observations[0].time: must carry a time zone",
        ),
    }
    await publish(kafka_broker, [body(n, run) for n in range(40)] + list(bad))
    w = worker(settings, kafka_broker, database_url, run)
    task = asyncio.create_task(w.run())
    assert await wait_for(pool, run, 40) == (40, 40)
    letters = await dead_letters(kafka_broker, len(bad))
    deadline = time.monotonic() + 30
    while await committed_offsets(kafka_broker, f"g-{run[:8]}") < 43 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    w.stop.set()
    await task
    envelopes = {str(e["payload"]).encode(): e for e in letters}
    assert set(envelopes) == set(bad)
    for payload, (code, text) in bad.items():
        error = envelopes[payload]["error"]
        assert isinstance(error, dict) and error["code"] == code and error["message"].startswith(text), error
        assert envelopes[payload]["origin"] == "obs" and envelopes[payload]["source"] == f"test-{run}"
    assert await stored(pool, run) == (40, 40), "nothing of a bad message is stored"
    assert await committed_offsets(kafka_broker, f"g-{run[:8]}") == 43, (
        "every message, good or bad, committed"
    )


class CrashAfterCommit(KafkaSource):
    """Stores but never commits offsets: what a connector killed between its commit and its ack leaves."""

    async def ack(self, messages: Sequence[Message]) -> None:
        return None


async def test_a_redelivery_after_a_lost_commit_is_recognised_and_not_stored_again(
    kafka_broker: Tansu, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    run = str(uuid.uuid4())
    await publish(kafka_broker, [body(n, run) for n in range(30)])
    first = worker(settings, kafka_broker, database_url, run)
    first.source = CrashAfterCommit(
        kafka_broker.url,
        ["obs"],
        group=f"g-{run[:8]}",
        dead_letter_topic="obs.dead",
        idempotent_producer=False,
    )
    task = asyncio.create_task(first.run())
    assert await wait_for(pool, run, 30) == (30, 30)
    first.stop.set()
    await task
    assert await committed_offsets(kafka_broker, f"g-{run[:8]}") == 0
    second = worker(settings, kafka_broker, database_url, run)
    task = asyncio.create_task(second.run())
    duplicates = second.metrics.rows.labels("kafka", f"test-{run}", "duplicate")
    deadline = time.monotonic() + 60
    while duplicates._value.get() < 30 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    second.stop.set()
    await task
    assert duplicates._value.get() == 30, "the group read all 30 uncommitted messages again"
    assert await stored(pool, run) == (30, 30), "and none was stored twice"
    assert await committed_offsets(kafka_broker, f"g-{run[:8]}") == 30
