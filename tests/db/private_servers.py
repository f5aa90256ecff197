"""A PostgreSQL cluster of a test's own (restarted, crashed, cloned into replicas without disturbing the shared
test cluster) and `atlas4d serve` as a child process logging to a file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from atlas4d.db.embedded import EmbeddedCluster
from live_server import ATLAS4D, free_port


@contextmanager
def private_cluster(primary: EmbeddedCluster | None = None) -> Iterator[EmbeddedCluster]:
    """A new cluster on a free port (a streaming replica of `primary` if given), stopped and deleted at the end;
    its data dir is one the postgres OS user can reach."""
    home = (
        Path("/var/lib/atlas4d-test") / f"private-{uuid.uuid4().hex[:12]}"
        if os.geteuid() == 0
        else Path(tempfile.mkdtemp(prefix="atlas4d-private-"))
    )
    db = EmbeddedCluster(home / "pg", free_port(), "atlas4d")
    try:
        if primary is not None:
            db.clone_from(primary)
        db.start()
        yield db
    finally:
        db.stop()
        shutil.rmtree(home, ignore_errors=True)


class Server:
    """`atlas4d serve` as a child process on a free port; its log goes to a file (a pipe nobody reads would
    fill up and stall the server once it logs enough, as it may while the database is down)."""

    def __init__(self, database_url: str, **settings: str) -> None:
        port = free_port()
        env = {
            **os.environ,
            "ATLAS4D_GC_FREEZE": "false",
            "ATLAS4D_DATABASE_URL": database_url,
            "ATLAS4D_PORT": str(port),
            **{f"ATLAS4D_{k.upper()}": v for k, v in settings.items()},
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(
            [str(ATLAS4D), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=self.log
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(self.base + "/health", timeout=1).json()["postgres"] == "healthy":
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
