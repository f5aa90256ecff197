"""The subscriptions of one process: notices in, rows read back in batches, matched, rendered once per
operation, handed to each subscriber's outbox.

    notice ─► pending ─► read back (one statement per topic per batch) ─► match (topic index) ─►
        render (once per live operation and row, concurrently, one context) ─► each feed's sink

Batches form by themselves: while one batch is read, matched and rendered, new notices wait, and the next
batch takes all of them (up to `stream_batch_rows`). An idle server answers a single notice at once.
Batches run one after another, so rows reach every subscriber in notice order — commit order — and within a
statement in id order.

Tenancy: feeds are grouped by their subscriber's tenant (None when tenancy is off). Each group's rows are read
back, matched and rendered with `current_tenant` set to that tenant, so the row-level security policies of
migration 0008 decide what it sees, exactly as for its queries; a notice names rows of every tenant, but a
subscriber only ever receives rows the database showed its own tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from atlas4d.auth.principal import current_tenant
from atlas4d.streaming.broker import Broker
from atlas4d.streaming.changes import BadNotice, Change, parse_change

log = logging.getLogger("atlas4d.streaming")


class Index(Protocol):
    def __len__(self) -> int: ...

    def add(self, owner: object, spec: Any) -> None: ...

    def discard(self, owner: object) -> None: ...

    async def match(self, rows: Sequence[Any], now: datetime, conn: Any) -> dict[object, list[int]]:
        """`conn`: the read-back's connection (in its transaction), for predicates PostgreSQL decides."""
        ...


class Topic(Protocol):
    """A kind of event (observations, anomalies, tracks): how its rows are read back and turned into the
    root value of a subscription field."""

    name: str
    change_kind: str

    def index(self) -> Index: ...

    async def read(self, conn: Any, changes: Sequence[Change]) -> list[Any]: ...

    def event(self, row: Any) -> Any: ...

    def entity_key(self, row: Any) -> Hashable: ...


class Renderer(Protocol):
    """Turns events into `next` payloads (JSON text of {data, errors}); shared by the feeds of one
    operation, so an event is executed once however many subscribers receive it."""

    async def render(self, events: Sequence[Any]) -> list[str]: ...


Sink = Callable[[list[tuple[Hashable, str]]], None]


@dataclass(eq=False)
class Feed:
    """One subscription's source: the topic and what it matches (the subscription resolver returns it).

    graphql-core requires a subscription resolver to return an async iterable; a feed is iterated only by
    atlas4d.streaming's protocol servers, which attach it to the hub instead."""

    topic: str
    spec: Any
    renderer: Renderer | None = None
    sink: Sink | None = None
    tenant: str | None = None  # whose rows it may see (tenancy on); set before it is attached
    delivered: int = field(default=0)
    # set by the protocol face: the source ended by itself (a gateway's upstream subgraph completed or
    # failed), with these errors (none: a plain end); the face sends them and completes the subscription
    end: Callable[[list[dict[str, Any]]], None] | None = None

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> Any:
        raise RuntimeError("a live feed is served by atlas4d.streaming's WebSocket and SSE endpoints only")


class Hub:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        broker: Broker,
        topics: Sequence[Topic],
        *,
        batch_rows: int = 5_000,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.topics = {t.name: t for t in topics}
        if len(self.topics) != len(topics):
            raise ValueError("two live topics share a name")
        # (topic, tenant) -> index and feeds: a tenant's rows are matched against its own feeds only
        self._indexes: dict[tuple[str, str | None], Index] = {}
        self._by_kind: dict[str, list[Topic]] = {}  # core's topic and the modules' derived ones
        for t in topics:
            self._by_kind.setdefault(t.change_kind, []).append(t)
        self.batch_rows = batch_rows
        self._pending: deque[Change] = deque()
        self._feeds: dict[str, dict[str | None, set[Feed]]] = {t.name: {} for t in topics}
        self._flush: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._started = False
        self.gap_listeners: set[Callable[[str], None]] = set()
        self.stats = {"notices": 0, "rows": 0, "batches": 0, "deliveries": 0, "bad_notices": 0}

    async def ensure_started(self) -> None:
        """LISTEN from the first subscription on (a server nobody subscribes to holds no extra connection)."""
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self.broker.start(self._on_notice, self._on_gap)
                self._started = True

    def attach(self, feed: Feed) -> None:
        key = (feed.topic, feed.tenant)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = self.topics[feed.topic].index()
        index.add(feed, feed.spec)
        self._feeds[feed.topic].setdefault(feed.tenant, set()).add(feed)

    def detach(self, feed: Feed) -> None:
        feeds = self._feeds[feed.topic].get(feed.tenant)
        if feeds is None or feed not in feeds:
            return
        feeds.discard(feed)
        self._indexes[(feed.topic, feed.tenant)].discard(feed)
        if not feeds:
            del self._feeds[feed.topic][feed.tenant]
            del self._indexes[(feed.topic, feed.tenant)]

    def subscribers(self) -> int:
        return sum(len(f) for groups in self._feeds.values() for f in groups.values())

    def _on_gap(self, reason: str) -> None:
        for listener in list(self.gap_listeners):
            listener(reason)

    def _on_notice(self, payload: str) -> None:
        self.stats["notices"] += 1
        try:
            change = parse_change(payload)
        except BadNotice:
            self.stats["bad_notices"] += 1
            log.warning("streaming: ignored a notice that is not ours: %r", payload[:80])
            return
        if not any(self._feeds[t.name] for t in self._by_kind.get(change.kind, ())):
            return  # nobody listens: nothing to read back
        self._pending.append(change)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch: list[Change] = []
                rows = 0
                while self._pending and (not batch or rows + self._pending[0].rows <= self.batch_rows):
                    change = self._pending.popleft()
                    batch.append(change)
                    rows += change.rows
                try:
                    await self._process(batch)
                except Exception:
                    log.exception(
                        "streaming: a batch of %d notices failed; its rows were not delivered", len(batch)
                    )
        finally:
            self._flush = None

    async def _process(self, batch: list[Change]) -> None:
        by_topic: dict[str, list[Change]] = {}
        for change in batch:
            for topic in self._by_kind[change.kind]:
                by_topic.setdefault(topic.name, []).append(change)
        self.stats["batches"] += 1
        for name, changes in by_topic.items():
            for tenant in list(self._feeds[name]):
                token = current_tenant.set(tenant)
                try:
                    await self._process_tenant(self.topics[name], tenant, changes)
                finally:
                    current_tenant.reset(token)

    async def _process_tenant(self, topic: Topic, tenant: str | None, changes: list[Change]) -> None:
        """Read back, match and render one topic's rows for the feeds of one tenant, under its tenant."""
        index = self._indexes.get((topic.name, tenant))
        if index is None:
            return
        # one read-only transaction: the tenant is set once (tenancy), and matching sees the rows read
        async with self.pool().acquire() as conn, conn.transaction(readonly=True):
            rows = await topic.read(conn, changes)
            self.stats["rows"] += len(rows)
            if not rows:
                return
            matches = await index.match(rows, datetime.now(UTC), conn)
        if matches:
            await self._dispatch(topic, tenant, rows, matches)

    async def _dispatch(
        self, topic: Topic, tenant: str | None, rows: list[Any], matches: dict[object, list[int]]
    ) -> None:
        events: dict[int, Any] = {}
        by_renderer: dict[int, tuple[Renderer, set[int]]] = {}
        for owner, indices in matches.items():
            feed = owner
            assert isinstance(feed, Feed)
            if feed.renderer is None or feed.sink is None:
                continue
            entry = by_renderer.setdefault(id(feed.renderer), (feed.renderer, set()))
            entry[1].update(indices)
        rendered: dict[int, dict[int, str]] = {}
        for key, (renderer, wanted) in by_renderer.items():
            order = sorted(wanted)
            for i in order:
                if i not in events:
                    events[i] = topic.event(rows[i])
            payloads = await renderer.render([events[i] for i in order])
            rendered[key] = dict(zip(order, payloads, strict=True))
        for owner, indices in matches.items():
            feed = owner
            assert isinstance(feed, Feed)
            if (
                feed.renderer is None
                or feed.sink is None
                or feed not in self._feeds[topic.name].get(tenant, ())
            ):
                continue
            texts = rendered[id(feed.renderer)]
            feed.sink([(topic.entity_key(rows[i]), texts[i]) for i in indices])
            feed.delivered += len(indices)
            self.stats["deliveries"] += len(indices)

    async def aclose(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush
        await self.broker.aclose()
