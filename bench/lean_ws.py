"""Lean load-generating clients for bench.streaming: graphql-transport-ws over a hand-rolled WebSocket
(asyncio.Protocol, RFC 6455 client side), and keep-alive HTTP/1.1 POSTs for the polling baseline.

Why not the `websockets` library: a load generator must cost far less than the server it measures. One
`websockets` connection parses each frame through coroutines and a message queue (~30-50 µs a message
here); this protocol parses every frame a `data_received` call holds in a loop and hands the text to one
callback (a few µs). It implements what the benchmark meets and no more: a client handshake, masked
client frames, unfragmented or fragmented text frames, ping → pong, close codes.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import cast

import orjson

PROTOCOL = "graphql-transport-ws"
TEXT, CLOSE, PING, PONG, CONT = 0x1, 0x8, 0x9, 0xA, 0x0


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 §5.2; servers refuse unmasked client frames)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65_536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    if n:
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(
            n, "big"
        )
    else:
        masked = b""
    return head + mask + masked


class LeanSocket(asyncio.Protocol):
    """One graphql-transport-ws connection. `on_text(socket, text)` is called for every text message after
    the handshake; `closed` resolves to the close code (1006 when the TCP connection just ended)."""

    def __init__(self, host: str, port: int, path: str, on_text: Callable[[LeanSocket, bytes], None]) -> None:
        self.host, self.port, self.path = host, port, path
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.fragments: bytearray | None = None
        self.tag: object = None  # the caller's

    # --- asyncio.Protocol ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded.set_result(None)
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(1006)

    # --- frames ------------------------------------------------------------------------------------------
    def _frames(self) -> None:
        buf = self.buffer
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if size - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])  # servers never mask
            pos += head + n
            self._message(b0 & 0x80, b0 & 0x0F, payload)
        if pos:
            del buf[:pos]

    def _message(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == TEXT and fin:
            self.on_text(self, payload)
        elif opcode == TEXT:
            self.fragments = bytearray(payload)
        elif opcode == CONT and self.fragments is not None:
            self.fragments += payload
            if fin:
                text, self.fragments = bytes(self.fragments), None
                self.on_text(self, text)
        elif opcode == PING:
            self._write(PONG, payload)
        elif opcode == CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if not self.closed.done():
                self.closed.set_result(code)
            self._write(CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(opcode, payload))

    def send(self, message: dict[str, object]) -> None:
        self._write(TEXT, orjson.dumps(message))

    def close(self) -> None:
        self._write(CLOSE, (1000).to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()


async def open_socket(
    host: str, port: int, path: str, on_text: Callable[[LeanSocket, bytes], None], rcvbuf: int | None = None
) -> LeanSocket:
    """Connect and upgrade. `rcvbuf` fixes the receive buffer (loopback autotunes it to many MB, which would
    hide a client that stopped reading)."""
    import socket

    loop = asyncio.get_running_loop()
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    _, protocol = await loop.create_connection(lambda: LeanSocket(host, port, path, on_text), sock=sock)
    await protocol.upgraded
    return protocol


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads Content-Length bodies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> bytes:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ConnectionError("a response without Content-Length: " + head[:200].decode(errors="replace"))
        return await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
