"""`atlas4d connect mqtt` against a real Mosquitto (a private one with persistence, started per test)."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

import aiomqtt
import asyncpg
import orjson
import pytest
from brokers import Mosquitto, body, connector, receiving, stored, tail, wait_for

from atlas4d.connectors.mqtt_source import MqttSource
from atlas4d.connectors.worker import Worker
from atlas4d.settings import Settings


async def publish(url_port: int, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", url_port, identifier=f"pub-{uuid.uuid4()}") as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def test_messages_are_stored_and_bad_ones_dead_lettered_with_the_mutations_error(
    mosquitto: Mosquitto, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    run = str(uuid.uuid4())
    bad = {
        b"[]": "is an empty list",
        body(100, run, speed=-1): "observations[0].speed: must be within 0..100000, got -1",
        body(101, run, entityId="not-a-uuid"): "observations[0].entityId: is not a UUID",
        body(102, run, externalId=7): "observations[0].externalId: must be a non-empty string",
    }
    source = MqttSource(
        mosquitto.url, ["sensors/#"], client_id=f"c-{run[:8]}", dead_letter_topic="atlas4d/dead"
    )
    fast = settings.model_copy(update={"connect_batch_ms": 50})
    w = Worker(fast, database_url, source, name=f"test-{run}")
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier=f"dl-{run[:8]}") as reader:
        await reader.subscribe("atlas4d/dead", qos=1)
        task = asyncio.create_task(w.run())
        while source._client is None:  # noqa: ASYNC110  (subscribed: the session exists from here on)
            await asyncio.sleep(0.02)
        messages = [(f"sensors/{n % 4}", body(n, run, externalId=f"x{n}")) for n in range(60)]
        await publish(mosquitto.port, messages + [("sensors/bad", p) for p in bad])
        assert await wait_for(pool, run, 60) == (60, 60)
        letters: dict[bytes, dict[str, object]] = {}
        async with asyncio.timeout(30):
            async for m in reader.messages:
                envelope = orjson.loads(m.payload)  # type: ignore[arg-type]
                letters[envelope["payload"].encode()] = envelope
                if len(letters) == len(bad):
                    break
    w.stop.set()
    await task
    assert set(letters) == set(bad)
    for payload, text in bad.items():
        error = letters[payload]["error"]
        assert isinstance(error, dict) and error["code"] == "INVALID_ITEM", error
        assert str(error["message"]).startswith(text), error
        assert letters[payload]["origin"] == "sensors/bad"
    assert await stored(pool, run) == (60, 60)
    assert w.metrics.messages.labels("mqtt", f"test-{run}", "dead_letter")._value.get() == len(bad)


@pytest.mark.timeout(240)
async def test_killed_connector_and_restarted_broker_lose_and_duplicate_nothing(
    mosquitto: Mosquitto, database_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    run = str(uuid.uuid4())
    log = tmp_path / "connector.log"
    args = ["mqtt", "--url", mosquitto.url, "--topic", "fleet/#", "--dead-letter", "atlas4d/dead"]
    args += ["--name", f"kill-{run[:8]}"]
    settings = {"connect_batch_rows": "200", "connect_batch_ms": "50"}
    phases = [1_000, 500, 500, 500]
    numbers = iter(range(sum(phases)))

    def messages(count: int) -> list[tuple[str, bytes]]:
        return [("fleet/v", body(next(numbers), run)) for _ in range(count)]

    process = connector(args, database_url, log, **settings)
    try:
        await receiving(process, log)  # the persistent session is made on the first subscribe
        await publish(mosquitto.port, messages(phases[0]))
        deadline = time.monotonic() + 60
        while (await stored(pool, run))[0] < 300:
            assert process.poll() is None and time.monotonic() < deadline, tail(log)
            await asyncio.sleep(0.02)
        process.kill()  # mid-stream: unacknowledged messages stay with the broker
        process.wait()
        await publish(mosquitto.port, messages(phases[1]))  # queued for the offline session
        mosquitto.restart()  # sessions and queued QoS 1 messages saved and read back (persistence)
        await publish(mosquitto.port, messages(phases[2]))
        process = connector(args, database_url, log, **settings)
        await publish(mosquitto.port, messages(phases[3]))
        total = sum(phases)
        assert await wait_for(pool, run, total, seconds=120) == (total, total), tail(log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, tail(log)
        await asyncio.sleep(0.5)
        assert await stored(pool, run) == (total, total), "no stored row lost or duplicated"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
