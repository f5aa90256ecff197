"""A live Atlas4D server for the client tests (Python SDK, TypeScript SDK, map page): a database of its own in
the test cluster, filled by `atlas4d demo` (core and the four modules' scenarios), served by `atlas4d serve` as
a real process on a free loopback port — what a user's client talks to.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from atlas4d.db.embedded import EmbeddedCluster
from atlas4d.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class LiveServer:
    url: str
    database_url: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_url(settings: Settings) -> str:
    base = os.environ.get("ATLAS4D_TEST_DATABASE_URL")
    if base is not None:
        return base.rsplit("/", 1)[0] + "/postgres"
    cluster = EmbeddedCluster.from_settings(settings)
    cluster.start()
    return cluster.admin_url()


async def _recreate(admin_url: str, name: str, drop_only: bool = False) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def live_demo_server(settings: Settings, name: str) -> Iterator[LiveServer]:
    """Create database `name`, load the demo into it, serve it; drop everything afterwards."""
    admin_url = _admin_url(settings)
    asyncio.run(_recreate(admin_url, name))
    database_url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS4D_")}
    env |= {"ATLAS4D_DATABASE_URL": database_url, "ATLAS4D_PORT": str(port), "COLUMNS": "200"}
    log = Path(tempfile.gettempdir()) / f"{name}.log"
    server: subprocess.Popen[bytes] | None = None
    try:
        done = subprocess.run(
            [str(BIN / "atlas4d"), "demo"], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"atlas4d demo failed:\n{done.stdout}\n{done.stderr}"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [str(BIN / "atlas4d"), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become healthy in 60 s"
            time.sleep(0.2)
        yield LiveServer(url, database_url, log)
    finally:
        if server is not None:
            _stop(server)
        asyncio.run(_recreate(admin_url, name, drop_only=True))
        log.unlink(missing_ok=True)
