"""A small graphql-transport-ws client over the `websockets` library, for tests against real servers."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

PROTOCOL = "graphql-transport-ws"
SUBSCRIBE_OBSERVATIONS = """subscription Live($f: ObservationFilter) {
  observationAdded(filter: $f) { id lon lat time entityId entity { kind } }
}"""


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def recv(self, seconds: float = 10) -> dict[str, Any]:
        # asyncio.timeout, not wait_for: no task per message (the memory test receives 100,000 of them)
        async with asyncio.timeout(seconds):
            text = await self.ws.recv()
        message: dict[str, Any] = orjson.loads(text)
        return message

    async def init(self, payload: dict[str, Any] | None = None) -> None:
        await self.send({"type": "connection_init", **({"payload": payload} if payload else {})})
        assert (await self.recv())["type"] == "connection_ack"

    async def barrier(self) -> None:
        """The server handles a connection's messages in order: once the pong is back, every earlier
        subscribe has been attached (rows committed from now on reach it)."""
        await self.send({"type": "ping"})
        while True:
            message = await self.recv()
            if message["type"] == "pong":
                return
            raise AssertionError(f"unexpected message before pong: {message}")

    async def subscribe(
        self, query: str = SUBSCRIBE_OBSERVATIONS, variables: dict[str, Any] | None = None, wait: bool = True
    ) -> str:
        sub_id = str(next(self._ids))
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": sub_id, "type": "subscribe", "payload": payload})
        if wait:
            await self.barrier()
        return sub_id

    async def events(self, count: int, seconds: float = 20) -> list[dict[str, Any]]:
        out = []
        while len(out) < count:
            message = await self.recv(seconds)
            assert message["type"] == "next", message
            out.append(message)
        return out

    async def close_code(self, seconds: float = 30) -> int | None:
        """Read until the server closes; its close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), seconds)
        except websockets.ConnectionClosed:
            pass
        return self.ws.close_code


@asynccontextmanager
async def connect(
    base: str,
    path: str = "/graphql",
    protocol: str | None = PROTOCOL,
    receive_buffer: int | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Client]:
    """`receive_buffer` fixes the socket's receive buffer (loopback autotunes it up to tens of MB, which
    would hide a client that stopped reading)."""
    url = base.replace("http://", "ws://") + path
    sock = None
    if receive_buffer is not None:
        host, port = base.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect((host, int(port)))
        sock.setblocking(False)
    async with websockets.connect(
        url,
        subprotocols=[protocol] if protocol else None,
        max_size=2**24,
        sock=sock,
        max_queue=4,
        compression=None,
        additional_headers=headers,
    ) as ws:
        yield Client(ws)
