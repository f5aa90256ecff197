"""Reads routed to PostgreSQL streaming replicas, within a bound on how stale they may be (docs/scaling.md).

`ATLAS4D_READ_DATABASE_URLS` names hot standbys of the primary (`pg_basebackup -R`, or a managed service's read
replicas). Each gets a pool of its own. A request that only reads — a GraphQL `query` operation, a REST `GET`
— takes its connections from a replica (round robin among the fresh ones); everything else (mutations, bulk
ingest, subscriptions' read-back, `/health`) stays on the primary. A request is served by one database from its
first statement to its last, so a mutation reads its own writes.

Staleness is bounded in time, not bytes: every `ATLAS4D_READ_CHECK_INTERVAL_MS` the router samples the
primary's WAL position (`pg_current_wal_lsn()`) and each replica's replayed position
(`pg_last_wal_replay_lsn()`). A replica is fresh when it has replayed everything the primary had written
`ATLAS4D_READ_MAX_LAG_MS` ago — it then misses at most the last `max_lag` of writes (plus one check interval
while the router has not yet seen it fall behind). A replica that lags further, does not answer, or is not in
recovery (promoted: it may have diverged) gets no reads until it is fresh again; with no fresh replica, reads go
to the primary. An idle primary's position does not move, so an idle replica stays fresh.

A client that must read what it wrote in an earlier request sends `x-atlas4d-read: primary`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from starlette.requests import HTTPConnection

from atlas4d.db.availability import describe, is_unavailable
from atlas4d.db.pool import create_pool
from atlas4d.settings import Settings

log = logging.getLogger("atlas4d.db")

READ_ONLY = "atlas4d_read_only"  # request.scope["state"] key: this request only reads
PRIMARY_HEADER = "x-atlas4d-read"
FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def lsn(text: str) -> int:
    """A pg_lsn's text ('16/B374D848') as the byte position it names."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass
class Replica:
    url: str
    pool: asyncpg.Pool | None = None
    fresh: bool = False
    state: str = "not connected"  # fresh | lagging | unreachable | not a replica | not connected


@dataclass
class ReadRouter:
    settings: Settings
    primary: Callable[[], Any]
    replicas: list[Replica] = field(default_factory=list)
    _samples: deque[tuple[float, int]] = field(default_factory=deque)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, settings: Settings, primary: Callable[[], Any]) -> ReadRouter | None:
        if not settings.read_database_urls:
            return None
        return cls(settings, primary, [Replica(url) for url in settings.read_database_urls])

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._monitor())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for replica in self.replicas:
            if replica.pool is not None:
                await replica.pool.close()

    def pick(self) -> asyncpg.Pool | None:
        """A fresh replica's pool (round robin), or None: read from the primary."""
        fresh = [r.pool for r in self.replicas if r.fresh and r.pool is not None]
        return fresh[next(self._turn) % len(fresh)] if fresh else None

    def status(self) -> list[str]:
        return [r.state for r in self.replicas]

    async def _monitor(self) -> None:
        interval = self.settings.read_check_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception as exc:  # the monitor must outlive any one failure; the next round retries
                log.warning("read replica check failed: %s", describe(exc))

    async def _sample_primary(self, now: float) -> None:
        pool = self.primary()
        if pool is None or is_unavailable(pool):
            return
        try:
            position = await pool.fetchval("SELECT pg_current_wal_lsn()::text")
        except FAILURES as exc:
            log.warning("primary WAL position unavailable: %s", describe(exc))
            return
        self._samples.append((now, lsn(position)))

    def _required(self, now: float) -> int | None:
        """The primary's position `max_lag` ago (or the oldest known, which is stricter); None: unknown."""
        bound = now - self.settings.read_max_lag_ms / 1000
        while len(self._samples) > 1 and self._samples[1][0] <= bound:
            self._samples.popleft()  # keep the newest sample at or before the bound
        return self._samples[0][1] if self._samples else None

    async def check(self) -> None:
        now = time.monotonic()
        await self._sample_primary(now)
        required = self._required(now)
        await asyncio.gather(*(self._check_replica(i, r, required) for i, r in enumerate(self.replicas)))

    async def _check_replica(self, index: int, replica: Replica, required: int | None) -> None:
        was = replica.state
        try:
            if replica.pool is None:
                replica.pool = await create_pool(self.settings, replica.url)
            row = await replica.pool.fetchrow(
                "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed"
            )
        except FAILURES as exc:
            replica.fresh, replica.state = False, "unreachable"
            if was != replica.state:
                log.warning("read replica %d unreachable: %s", index, describe(exc))
            return
        assert row is not None
        if not row["standby"] or row["replayed"] is None:
            replica.fresh, replica.state = False, "not a replica"
        else:
            replica.fresh = required is not None and lsn(row["replayed"]) >= required
            replica.state = "fresh" if replica.fresh else "lagging"
        if was != replica.state:
            log.warning("read replica %d: %s -> %s", index, was, replica.state)


def pool_for(connection: HTTPConnection) -> Any:
    """The pool a request's statements use: a fresh replica's when it only reads, else the primary's."""
    state = connection.app.state
    router: ReadRouter | None = getattr(state, "read_router", None)
    if (
        router is not None
        and connection.scope.get("state", {}).get(READ_ONLY)
        and connection.headers.get(PRIMARY_HEADER) != "primary"
    ):
        replica = router.pick()
        if replica is not None:
            return replica
    return getattr(state, "pool", None)


def mark_read_only(connection: HTTPConnection, read_only: bool) -> None:
    connection.scope.setdefault("state", {})[READ_ONLY] = read_only
