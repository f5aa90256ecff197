"""`atlas4d connect nats` against a real nats-server with JetStream (a private one, started per test)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import nats
import orjson
import pytest
from brokers import NatsServer, body, connector, stored, tail, wait_for

from atlas4d.connectors.nats_source import NatsSource
from atlas4d.connectors.worker import Message, Worker
from atlas4d.settings import Settings


async def streams(url: str) -> nats.aio.client.Client:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="OBS", subjects=["obs.>"])
    await js.add_stream(name="DEAD", subjects=["dead.>"])
    return nc


async def settled(js: nats.js.JetStreamContext, durable: str, seconds: float = 10.0) -> tuple[int, int]:
    """(acks pending, messages pending) of `durable` once both are 0, or as they are after `seconds`.
    JetStream applies an ack asynchronously after the client's flush returned, so a consumer_info sent
    right after the connector stopped can still count the last ack as pending."""
    deadline = time.monotonic() + seconds
    while True:
        info = await js.consumer_info("OBS", durable)
        counts = (info.num_ack_pending, info.num_pending)
        if counts == (0, 0) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.1)


def worker(settings: Settings, url: str, database_url: str, run: str, **source: object) -> Worker:
    options: dict[str, object] = {"durable": f"d-{run[:8]}", "dead_letter_subject": "dead.obs", **source}
    nats_source = NatsSource(url, "obs.>", **options)  # type: ignore[arg-type]
    fast = settings.model_copy(update={"connect_batch_ms": 50, "connect_batch_rows": 500})
    return Worker(fast, database_url, nats_source, name=f"test-{run}")


async def test_messages_are_stored_and_bad_ones_dead_lettered_with_the_mutations_error(
    nats_server: NatsServer, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    run = str(uuid.uuid4())
    nc = await streams(nats_server.url)
    js = nc.jetstream()
    for n in range(40):
        await js.publish(f"obs.{n % 3}", body(n, run))
    pair = orjson.dumps([orjson.loads(body(40, run)), orjson.loads(body(41, run))])
    await js.publish("obs.pair", pair)
    bad = {
        b"{not json": ("INVALID_ITEM", "is not valid JSON"),
        body(100, run, lon=200): ("INVALID_ITEM", "observations[0].lon: must be within -180..180, got 200"),
        body(101, run, colour="red"): (
            "INVALID_ITEM",
            "observations[0].colour: is not a field of ObservationInput",
        ),
        orjson.dumps(
            [orjson.loads(body(102, run)), orjson.loads(body(103, run, time="2026-01-01T00:00:00"))]
        ): (
            "INVALID_ITEM",
            "observations[1].time: must carry a time zone",
        ),
    }
    for payload in bad:
        await js.publish("obs.bad", payload)
    w = worker(settings, nats_server.url, database_url, run)
    task = asyncio.create_task(w.run())
    assert await wait_for(pool, run, 42) == (42, 42)
    dead = await js.pull_subscribe("dead.>", durable="reader")
    letters = []
    deadline = time.monotonic() + 30
    while len(letters) < len(bad) and time.monotonic() < deadline:
        with contextlib.suppress(nats.errors.TimeoutError):
            letters += await dead.fetch(len(bad), timeout=1)
    w.stop.set()
    await task
    envelopes = {orjson.loads(m.data)["payload"].encode(): orjson.loads(m.data) for m in letters}
    assert set(envelopes) == set(bad)
    for payload, (code, text) in bad.items():
        error = envelopes[payload]["error"]
        assert error["code"] == code and error["message"].startswith(text), error
        assert envelopes[payload]["origin"] == "obs.bad" and envelopes[payload]["source"] == f"test-{run}"
    assert await stored(pool, run) == (42, 42), "nothing of a bad message is stored, not even its good item"
    assert await settled(js, f"d-{run[:8]}") == (0, 0), "every message, good or bad, was acknowledged"
    await nc.close()


class CrashAfterCommit(NatsSource):
    """Commits but never acknowledges: what a connector killed between its commit and its ack leaves."""

    async def ack(self, messages: Sequence[Message]) -> None:
        return None


async def test_a_redelivery_after_a_lost_ack_is_recognised_and_not_stored_again(
    nats_server: NatsServer, settings: Settings, database_url: str, pool: asyncpg.Pool
) -> None:
    run = str(uuid.uuid4())
    nc = await streams(nats_server.url)
    js = nc.jetstream()
    for n in range(30):
        await js.publish("obs.x", body(n, run))
    first = worker(settings, nats_server.url, database_url, run, ack_wait_s=1.0)
    first.source = CrashAfterCommit(
        nats_server.url, "obs.>", durable=f"d-{run[:8]}", dead_letter_subject="dead.obs", ack_wait_s=1.0
    )
    task = asyncio.create_task(first.run())
    assert await wait_for(pool, run, 30) == (30, 30)
    first.stop.set()
    await task
    second = worker(settings, nats_server.url, database_url, run)
    task = asyncio.create_task(second.run())
    deadline = time.monotonic() + 30
    duplicates = second.metrics.rows.labels("nats", f"test-{run}", "duplicate")
    while duplicates._value.get() < 30 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    second.stop.set()
    await task
    assert duplicates._value.get() == 30, "JetStream redelivered all 30 unacknowledged messages"
    assert await stored(pool, run) == (30, 30), "and none was stored twice"
    assert await settled(js, f"d-{run[:8]}") == (0, 0)
    await nc.close()


@pytest.mark.timeout(240)
async def test_killed_connector_and_restarted_server_lose_and_duplicate_nothing(
    nats_server: NatsServer, database_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    run = str(uuid.uuid4())
    log = tmp_path / "connector.log"
    nc = await streams(nats_server.url)
    args = ["nats", "--url", nats_server.url, "--subject", "obs.>", "--dead-letter", "dead.obs"]
    args += ["--name", f"kill-{run[:8]}", "--ack-wait", "2"]
    settings = {"connect_batch_rows": "200", "connect_batch_ms": "50"}
    total, n = 3_000, 0

    async def publish(count: int) -> None:
        nonlocal n
        js = nc.jetstream()
        for _ in range(count):
            await js.publish("obs.k", body(n, run))
            n += 1

    process = connector(args, database_url, log, **settings)
    try:
        await publish(1_000)
        # killed mid-stream: some batches committed and acknowledged, maybe one committed and not acknowledged,
        # some received and not stored
        deadline = time.monotonic() + 60
        while (await stored(pool, run))[0] < 300:
            assert process.poll() is None and time.monotonic() < deadline, tail(log)
            await asyncio.sleep(0.02)
        process.kill()
        process.wait()
        await publish(500)
        await nc.close()
        nats_server.restart()  # JetStream state (stream, durable consumer, acks) from its store directory
        nc = await nats.connect(nats_server.url)
        await publish(500)
        process = connector(args, database_url, log, **settings)
        await publish(total - n)
        assert await wait_for(pool, run, total, seconds=120) == (total, total), tail(log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, tail(log)
        await asyncio.sleep(0.5)
        assert await stored(pool, run) == (total, total), "no stored row lost or duplicated"
        acked = await settled(nc.jetstream(), f"atlas4d-kill-{run[:8]}")
        assert acked == (0, 0), "SIGTERM acknowledged everything stored"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        await nc.close()
