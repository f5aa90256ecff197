"""MQTT (3.1.1) source: a persistent session at QoS 1, acknowledged by hand after the commit.

The session is persistent (`clean_session=False`, a fixed client id), so the broker keeps queuing QoS 1
messages while the connector is away, and resends the ones it delivered but never got a PUBACK for. The
PUBACK of a message is sent only after its rows committed (paho-mqtt's manual acks, which aiomqtt does not
expose: reached through its paho client, aiomqtt pinned to 2.x). After a reconnect, messages received on
the old connection are never acknowledged (their packet ids mean nothing to the new one): the broker resends
them and their idempotency keys keep them from being stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiomqtt

from atlas4d.connectors.worker import BrokerUnavailable, Message


class MqttSource:
    kind = "mqtt"

    def __init__(
        self,
        url: str,
        topics: Sequence[str],
        *,
        client_id: str,
        dead_letter_topic: str,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"an MQTT URL looks like mqtt://host:1883, got {url!r}")
        self._host, self._port = parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._tls = parts.scheme == "mqtts"
        self._username, self._password = parts.username, parts.password
        self.topics, self.client_id, self.dead_letter_topic = list(topics), client_id, dead_letter_topic
        self._timeout = connect_timeout
        self._client: aiomqtt.Client | None = None
        self._generation = 0
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connect()

    async def _connect(self) -> None:
        await self._disconnect()
        client = aiomqtt.Client(
            self._host,
            self._port,
            identifier=self.client_id,
            clean_session=False,
            username=self._username,
            password=self._password,
            timeout=self._timeout,
            tls_params=aiomqtt.TLSParameters() if self._tls else None,
        )
        client._client.manual_ack_set(True)
        try:
            await client.__aenter__()
            for topic in self.topics:
                await client.subscribe(topic, qos=1)
        except (aiomqtt.MqttError, OSError) as exc:
            await self._close_client(client)
            raise BrokerUnavailable(str(exc)) from exc
        self._generation += 1
        self._queue = asyncio.Queue()
        self._client = client
        self._pump = asyncio.create_task(self._read(client, self._generation, self._queue))

    async def _read(self, client: aiomqtt.Client, generation: int, queue: asyncio.Queue[Message]) -> None:
        try:
            async for m in client.messages:
                body = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                queue.put_nowait(Message(body, str(m.topic), time.monotonic(), (generation, m.mid, m.qos)))
        except aiomqtt.MqttError:
            pass  # receive() sees the pump ended and reconnects

    async def receive(self, limit: int, wait_s: float) -> list[Message]:
        if self._client is None or self._pump is None or self._pump.done():
            await self._connect()
        queue, pump = self._queue, self._pump
        assert pump is not None
        deadline = time.monotonic() + wait_s
        out: list[Message] = []
        while len(out) < limit:
            if queue.empty():
                left = deadline - time.monotonic()
                if left <= 0 or pump.done():
                    break
                getter: asyncio.Future[Message] = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait([getter, pump], timeout=left)  # type: ignore[type-var]
                if getter not in done:
                    getter.cancel()
                    break
                out.append(getter.result())
            else:
                out.append(queue.get_nowait())
        return out

    async def ack(self, messages: Sequence[Message]) -> None:
        client = self._client
        for m in messages:
            generation, mid, qos = m.handle
            if client is not None and generation == self._generation and qos > 0:
                client._client.ack(mid, qos)

    async def dead_letter(self, message: Message, envelope: bytes) -> None:
        if self._client is None:
            raise BrokerUnavailable("not connected")
        try:
            await self._client.publish(self.dead_letter_topic, envelope, qos=1)
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(str(exc)) from exc

    def pending(self) -> int | None:
        return None

    async def close(self) -> None:
        await self._disconnect()

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        pump, self._pump = self._pump, None
        if client is not None:
            await self._close_client(client)
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    @staticmethod
    async def _close_client(client: aiomqtt.Client) -> None:
        with contextlib.suppress(aiomqtt.MqttError, OSError):
            await client.__aexit__(None, None, None)
