"""Real servers for the tests that talk to us the way outside clients do (graphql-http's audit, Apollo Client,
headless Chromium): `atlas4d serve` and `atlas4d gateway` as child processes on free loopback ports, with the
test database, stopped when the test ends."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
# What Apollo Client 4 and urql send: request errors (parse, validation, limits, variables) are then 400 without
# `data`; under plain `application/json` the GraphQL-over-HTTP spec wants them 200 (test_graphql_over_http.py).
MODERN_ACCEPT = {"accept": "application/graphql-response+json, application/json;q=0.9"}
ATLAS4D = Path(sys.executable).with_name("atlas4d")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _launch(args: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(ATLAS4D), *args],
        env={**os.environ, "ATLAS4D_GC_FREEZE": "false", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,
    )


def _wait_ready(process: subprocess.Popen[bytes], args: list[str], base: str, ready_path: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"atlas4d {' '.join(args)} exited: {err[-2000:]}")
        try:
            if httpx.get(base + ready_path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"atlas4d {' '.join(args)} did not answer {ready_path} in 60 s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # uvicorn and any worker it forked
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if process.stderr is not None:
        process.stderr.close()


@contextmanager
def running(args: list[str], port: int, env: Mapping[str, str], ready_path: str = "/health") -> Iterator[str]:
    """Run `atlas4d ARGS` until the block ends; yields its base URL once `ready_path` answers."""
    process = _launch(args, env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, args, base, ready_path)
        yield base
    finally:
        _stop(process)


@contextmanager
def serve(database_url: str, **settings: str) -> Iterator[str]:
    """`atlas4d serve` on the test database; `settings` are ATLAS4D_* variables (lower-case names)."""
    port = free_port()
    env = {"ATLAS4D_DATABASE_URL": database_url, "ATLAS4D_PORT": str(port)}
    env.update({f"ATLAS4D_{k.upper()}": v for k, v in settings.items()})
    with running(["serve"], port, env) as base:
        yield base


class Replica:
    """One of `replicas()`' servers: its base URL, and `stop()` to end it before the others (a takeover)."""

    def __init__(self, process: subprocess.Popen[bytes], base: str) -> None:
        self.process = process
        self.base = base

    def stop(self) -> None:
        _stop(self.process)


@contextmanager
def replicas(database_url: str, count: int, **settings: str) -> Iterator[list[Replica]]:
    """`count` `atlas4d serve` processes on the test database, started together (their start-ups overlap:
    most of a replica test's time was starting one server after the other)."""
    started: list[Replica] = []
    try:
        for _ in range(count):
            port = free_port()
            env = {"ATLAS4D_DATABASE_URL": database_url, "ATLAS4D_PORT": str(port)}
            env.update({f"ATLAS4D_{k.upper()}": v for k, v in settings.items()})
            started.append(Replica(_launch(["serve"], env), f"http://127.0.0.1:{port}"))
        for replica in started:
            _wait_ready(replica.process, ["serve"], replica.base, "/health")
        yield started
    finally:
        for replica in started:
            _stop(replica.process)


@contextmanager
def gateway(supergraph: Path, **settings: str) -> Iterator[str]:
    """`atlas4d gateway --supergraph FILE` (subgraphs at the URLs the file names)."""
    port = free_port()
    env = {f"ATLAS4D_{k.upper()}": v for k, v in settings.items()}
    with running(["gateway", "--supergraph", str(supergraph), "--port", str(port)], port, env) as base:
        yield base


@asynccontextmanager
async def empty_database(database_url: str, suffix: str) -> AsyncIterator[str]:
    """A new, empty database beside the test one (`<test db>_<suffix>`), dropped afterwards."""
    name = f"{database_url.rsplit('/', 1)[-1]}_{suffix}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    try:
        yield database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


class InProcess:
    """An app served by uvicorn from a thread of the test process (lifespan on: pool, stream hub), for tests
    that look inside the server while real clients talk to it over real sockets."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> InProcess:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def in_process(database_url: str, **settings: str) -> Iterator[str]:
    """`serve()`'s server without a process start-up (~2-3 s of imports under load): the app built from the
    same settings, served from a thread of the test process."""
    from atlas4d.app import create_app
    from atlas4d.settings import Settings

    built = Settings(database_url=database_url, gc_freeze=False, **settings)  # type: ignore[arg-type]
    with InProcess(create_app(built)) as server:
        yield server.base
