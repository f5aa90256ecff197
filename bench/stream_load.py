"""The processes that load the server in bench.streaming: subscriber processes (many lean sockets on one event
loop each) and one ingest process. Each runs `serve(pipe)`: it answers the orchestrator's commands, so every
number crosses processes as plain arrays and the clock is CLOCK_MONOTONIC, shared by every process of the
machine (latency = a client's receive time - the ingest's commit-ack time, no clock skew).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import time
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import orjson

from bench.lean_ws import HttpConnection, LeanSocket, open_socket

LIVE = (
    "subscription($f: ObservationFilter) { observationAdded(filter: $f) { id lon lat sourceType metadata } }"
)
POLL = (
    "query($f: ObservationFilter) { observations(filter: $f, first: 1000) "
    "{ nodes { id lon lat sourceType metadata } } }"
)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def run_loop(main: Any) -> None:
    try:
        import uvloop

        uvloop.run(main)
    except ImportError:
        asyncio.run(main)


async def commands(pipe: Connection) -> Any:
    loop = asyncio.get_running_loop()
    while True:
        yield await loop.run_in_executor(None, pipe.recv)


async def until(at: float) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))


@dataclass
class _State:
    acked: asyncio.Future[None]
    ponged: asyncio.Future[None]
    errors: list[bytes] = field(default_factory=list)


class Subscribers:
    """The sockets of one client process."""

    def __init__(self, host: str, port: int, boxes: list[dict[str, float]]) -> None:
        self.host, self.port, self.boxes = host, port, boxes
        self.sockets: list[LeanSocket] = []
        self.recording = False
        self.seqs: array[int] = array("q")
        self.times: array[float] = array("d")
        self.other = 0  # next messages that are not ours (none expected)
        self.slow: LeanSocket | None = None

    def on_text(self, sock: LeanSocket, data: bytes) -> None:
        now = time.monotonic()
        message = orjson.loads(data)
        kind = message.get("type")
        if kind == "next":
            if self.recording:
                try:
                    seq = message["payload"]["data"]["observationAdded"]["metadata"]["seq"]
                except (KeyError, TypeError):
                    self.other += 1
                    return
                self.seqs.append(seq)
                self.times.append(now)
            return
        state = sock.tag
        assert isinstance(state, _State)
        if kind == "connection_ack" and not state.acked.done():
            state.acked.set_result(None)
        elif kind == "pong" and not state.ponged.done():
            state.ponged.set_result(None)
        elif kind == "error":
            state.errors.append(data)

    async def _one(self, box: dict[str, float], rcvbuf: int | None = None) -> tuple[float, float, LeanSocket]:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        sock = await open_socket(self.host, self.port, "/graphql", self.on_text, rcvbuf)
        state = _State(loop.create_future(), loop.create_future())
        sock.tag = state
        sock.send({"type": "connection_init"})
        await state.acked
        payload = {"query": LIVE, "variables": {"f": {"bbox": box}}}
        sock.send({"id": "1", "type": "subscribe", "payload": payload})
        sock.send({"type": "ping"})  # the server reads a connection's messages in order: pong = attached
        await state.ponged
        if state.errors:
            raise RuntimeError(state.errors[0].decode()[:300])
        return started, time.monotonic(), sock

    async def subscribe(self, at: float) -> dict[str, Any]:
        await until(at)
        cpu0 = cpu_s()
        results = await asyncio.gather(
            *(asyncio.wait_for(self._one(b), 60) for b in self.boxes), return_exceptions=True
        )
        done, failures = [], []
        for r in results:
            if isinstance(r, BaseException):
                failures.append(repr(r)[:200])
            else:
                done.append(r[1] - r[0])
                self.sockets.append(r[2])
        last = max((r[1] for r in results if not isinstance(r, BaseException)), default=at)
        return {"each_s": done, "last": last, "failures": failures, "cpu_s": cpu_s() - cpu0}

    async def start_slow(self, box: dict[str, float]) -> None:
        """A subscriber that stops reading: a 64 kB receive buffer, reading paused after the pong."""
        _, _, sock = await self._one(box, rcvbuf=65_536)
        assert sock.transport is not None
        sock.transport.pause_reading()
        self.slow = sock

    async def end_slow(self) -> int:
        sock = self.slow
        assert sock is not None and sock.transport is not None
        sock.transport.resume_reading()
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(sock.closed), 10)
        sock.close()
        return 0  # still open after 10 s of reading: the server never closed it

    def take(self) -> tuple[bytes, bytes, int]:
        out = (self.seqs.tobytes(), self.times.tobytes(), self.other)
        self.seqs, self.times, self.other = array("q"), array("d"), 0
        return out

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []


async def poll(
    host: str, port: int, boxes: list[dict[str, float]], at: float, seconds: float
) -> dict[str, Any]:
    """Each box asks for its rows once a second over its own keep-alive connection (from 2 s before its last
    poll: rows carry their transaction's start time; ids already seen are skipped)."""
    seqs: array[int] = array("q")
    times: array[float] = array("d")
    request_s: list[float] = []
    errors = [0]
    first_error: list[str] = []
    await until(at)
    stop_at = at + seconds
    rng = random.Random(len(boxes))

    async def poller(box: dict[str, float]) -> None:
        http = HttpConnection(host, port)
        await asyncio.sleep(rng.random())
        since = datetime.now(UTC)
        seen: set[str] = set()
        try:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                frm = (since - timedelta(seconds=2)).isoformat()
                since = datetime.now(UTC)
                body = orjson.dumps({"query": POLL, "variables": {"f": {"bbox": box, "time": {"from": frm}}}})
                try:
                    answer = orjson.loads(await http.post("/graphql", body))
                except (OSError, ConnectionError, asyncio.IncompleteReadError):
                    errors[0] += 1
                    http.close()
                    http = HttpConnection(host, port)
                    continue
                now = time.monotonic()
                request_s.append(now - started)
                data = answer.get("data") if isinstance(answer, dict) else None
                if not data:  # refused (rate limit, overload): counted, its first error kept
                    errors[0] += 1
                    if not first_error:
                        first_error.append(orjson.dumps(answer).decode()[:300])
                    await asyncio.sleep(max(0.0, started + 1.0 - time.monotonic()))
                    continue
                for node in data["observations"]["nodes"]:
                    if node["id"] not in seen:
                        seen.add(node["id"])
                        seqs.append(node["metadata"]["seq"])
                        times.append(now)
                await asyncio.sleep(max(0.0, started + 1.0 - time.monotonic()))
        finally:
            http.close()

    cpu0 = cpu_s()
    await asyncio.gather(*(poller(b) for b in boxes))
    return {
        "seqs": seqs.tobytes(),
        "times": times.tobytes(),
        "request_s": request_s,
        "errors": errors[0],
        "first_error": first_error[0] if first_error else None,
        "cpu_s": cpu_s() - cpu0,
    }


def client_process(
    pipe: Connection, host: str, port: int, boxes: list[dict[str, float]], cpu: int | None
) -> None:
    pin(cpu)
    run_loop(_client(pipe, host, port, boxes))


async def _client(pipe: Connection, host: str, port: int, boxes: list[dict[str, float]]) -> None:
    subs = Subscribers(host, port, boxes)
    async for command, *args in commands(pipe):
        if command == "subscribe":
            pipe.send(await subs.subscribe(*args))
        elif command == "record":
            subs.take()
            subs.recording = True
            pipe.send(cpu_s())
        elif command == "count":
            pipe.send(len(subs.seqs))
        elif command == "take":
            subs.recording = False
            pipe.send((*subs.take(), cpu_s()))
        elif command == "slow":
            await subs.start_slow(*args)
            pipe.send(None)
        elif command == "slow_end":
            pipe.send(await subs.end_slow())
        elif command == "close":
            subs.close()
            await asyncio.sleep(0.5)
            pipe.send(None)
        elif command == "poll":
            pipe.send(await poll(host, port, boxes, *args))
        elif command == "exit":
            pipe.send(None)
            return


INSERT = (
    "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, source_type, metadata) "
    "SELECT now(), u.x, u.y, ST_SetSRID(ST_MakePoint(u.x, u.y), 4326), 'bench', jsonb_build_object('seq', u.s) "
    "FROM unnest($1::float8[], $2::float8[], $3::int8[]) AS u(x, y, s)"
)


def ingest_process(
    pipe: Connection, url: str, area: tuple[float, float, float, float], cpu: int | None
) -> None:
    pin(cpu)
    run_loop(_ingest(pipe, url, area))


async def _ingest(pipe: Connection, url: str, area: tuple[float, float, float, float]) -> None:
    """("ingest", rate, seconds, every, seq0, at): commits `rate` * `every` rows every `every` seconds, one
    autocommit statement each; answers per row: seq, lon, lat, commit-ack time (monotonic)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    rng = random.Random(7)
    try:
        async for command, *args in commands(pipe):
            if command == "exit":
                pipe.send(None)
                return
            rate, seconds, every, seq0, at = args
            per = max(1, round(rate * every))
            seqs: array[int] = array("q")
            lons: array[float] = array("d")
            lats: array[float] = array("d")
            acks: array[float] = array("d")
            late = 0.0
            await until(at)
            next_at = at
            seq = seq0
            while next_at < at + seconds:
                xs = [rng.uniform(area[0], area[2]) for _ in range(per)]
                ys = [rng.uniform(area[1], area[3]) for _ in range(per)]
                ss = list(range(seq, seq + per))
                await conn.execute(INSERT, xs, ys, ss)
                ack = time.monotonic()
                seqs.extend(ss)
                lons.extend(xs)
                lats.extend(ys)
                acks.extend([ack] * per)
                seq += per
                late = max(late, ack - next_at)
                next_at += every
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            pipe.send(
                {
                    "seqs": seqs.tobytes(),
                    "lons": lons.tobytes(),
                    "lats": lats.tobytes(),
                    "acks": acks.tobytes(),
                    "max_late_s": late,
                    "cpu_s": cpu_s(),
                }
            )
    finally:
        await conn.close()
