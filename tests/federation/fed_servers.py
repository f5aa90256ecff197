"""Servers the federation tests start and stop: uvicorn in a thread, node scripts as child processes.

Everything binds 127.0.0.1 on a free port chosen by the OS.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

JS_DIR = Path(__file__).resolve().parents[1] / "js"
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def require_node_modules() -> None:
    """Node peers are part of the test suite: missing ones are a failure, not a skip."""
    if not (JS_DIR / "node_modules" / "@apollo" / "gateway").is_dir():
        raise RuntimeError(
            f"npm peers are not installed in {JS_DIR}: run `npm ci --prefix tests/js` (.ci/run does it)"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CountingApp:
    """ASGI wrapper counting GraphQL POSTs (what a subgraph request is)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.requests += 1
        await self.app(scope, receive, send)


class ThreadedServer:
    """uvicorn serving an ASGI app from a background thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        # A long keep-alive: node reuses idle connections, and a server closing one first shows up as
        # "socket hang up" on the Apollo side.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", timeout_keep_alive=300
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class NodeProcess:
    """A node script that prints one JSON line with its URL once it listens."""

    def __init__(self, script: str, *args: str) -> None:
        require_node_modules()
        self.process = subprocess.Popen(
            ["node", str(JS_DIR / script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=JS_DIR,
            env={**os.environ, "NODE_ENV": "production"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            err = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"node {script} failed to start: {err}")
        self.url: str = json.loads(line)["url"]

    def command(self, line: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def node_json(script: str, payload: Any) -> Any:
    """Run a one-shot node script with JSON on stdin, return its JSON stdout."""
    require_node_modules()
    done = subprocess.run(
        ["node", str(JS_DIR / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=JS_DIR,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"node {script} failed: {done.stderr}")
    return json.loads(done.stdout)
