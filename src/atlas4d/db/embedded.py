"""The embedded PostGIS: a private PostgreSQL cluster in a data directory of ours.

It is started from the machine's own PostgreSQL binaries (the OS packages), listens on loopback only and
is kept between runs. PostgreSQL refuses to run as root, so when we are root every server command runs
as the `postgres` OS user, who owns the data directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from atlas4d.errors import DatabaseUnavailable
from atlas4d.settings import Settings

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "256MB",
    "max_connections": "200",
    "jit": "off",
    "fsync": "on",
}


def find_bindir() -> Path:
    """The newest PostgreSQL (15+) server binaries on this machine."""
    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for path in candidates:
        if path.parent.name.isdigit() and int(path.parent.name) >= 15:
            return path
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise DatabaseUnavailable(
        "no PostgreSQL 15+ server binaries found; install postgresql-15 and postgresql-15-postgis-3 "
        "(make demo does it) or set ATLAS4D_DATABASE_URL"
    )


@dataclass(frozen=True)
class EmbeddedCluster:
    data_dir: Path
    port: int
    database: str

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedCluster:
        return cls(settings.data_dir / "pg", settings.embedded_port, settings.embedded_database)

    @property
    def socket_dir(self) -> Path:
        return self.data_dir.parent / "run"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, check=check, capture_output=True, text=True, timeout=120)

    def _prepare_dirs(self) -> None:
        for path in (self.data_dir.parent, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for path in (self.data_dir.parent, self.socket_dir):
                os.chown(path, pg.pw_uid, pg.pw_gid)
            # postgres must be able to reach the data dir through every parent
            for parent in self.data_dir.parent.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    raise DatabaseUnavailable(
                        f"{parent} is not searchable by the postgres user; set ATLAS4D_DATA_DIR elsewhere"
                    )

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        bindir = find_bindir()
        result = self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "status"], check=False)
        return result.returncode == 0

    def init(self) -> None:
        self._prepare_dirs()
        bindir = find_bindir()
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )

    def start(self) -> None:
        """Initialise if needed and start; a running cluster is left alone."""
        if not self.initialised():
            self.init()
        self._prepare_dirs()
        if self.running():
            return
        bindir = find_bindir()
        options = " ".join(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items())
        options += f" -p {self.port} -k {self.socket_dir}"
        result = self._run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            check=False,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise DatabaseUnavailable(f"the embedded PostgreSQL did not start:\n{result.stderr}\n{tail}")
        self._ensure_database()

    def _ensure_database(self) -> None:
        bindir = find_bindir()
        psql = str(bindir / "psql")
        exists = self._run(
            [
                psql,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",
            ]
        )
        if exists.stdout.strip() != "1":
            self._run(
                [
                    str(bindir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    self.database,
                ]
            )

    def clone_from(self, primary: EmbeddedCluster) -> None:
        """Make this (uninitialised) cluster a streaming replica of `primary`: `pg_basebackup -R` copies its data
        after a fast checkpoint (the default, spread one made it wait minutes) and writes the standby settings
        (primary_conninfo, standby.signal); `start()` then runs it as a hot standby. Replication connections
        from loopback are trusted, as initdb's trust setup allows."""
        self._prepare_dirs()
        bindir = find_bindir()
        self._run(
            [str(bindir / "pg_basebackup"), "-D", str(self.data_dir), "-R", "-X", "stream", "-c", "fast",
             "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"]
        )  # fmt: skip

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Stop the cluster: `fast` rolls back open transactions and checkpoints; `immediate` is a crash (the
        next start recovers from the WAL)."""
        if not self.initialised() or not self.running():
            return
        bindir = find_bindir()
        self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-m", mode, "stop"])

    def status(self) -> dict[str, object]:
        return {
            "data_dir": str(self.data_dir),
            "initialised": self.initialised(),
            "running": self.initialised() and self.running(),
            "url": self.url,
        }


def database_url(settings: Settings, start: bool = True) -> str:
    """The URL to connect to: `ATLAS4D_DATABASE_URL`, or the embedded cluster (started if asked)."""
    if settings.database_url:
        return settings.database_url
    cluster = EmbeddedCluster.from_settings(settings)
    if start:
        cluster.start()
    return cluster.url
