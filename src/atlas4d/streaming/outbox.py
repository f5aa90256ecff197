"""A connection's bounded queue of outgoing messages, and what happens when its reader falls behind.

The hub never waits for a client: it appends to the outbox and moves on; one sender task per connection
writes to the socket at the client's pace (uvicorn's WebSocket protocol waits for the transport to drain).
When more than `limit` messages wait:
A batch of events is taken whole while fewer than `limit` messages wait; when a batch arrives and `limit`
or more still wait, the client is behind:
- `close` (default): the connection is closed with code 4413 ("slow consumer"); graphql-ws clients reconnect.
- `coalesce`: a new event replaces the queued, not yet sent event of the same subscription and entity (the
  client gets the latest state of each entity); an event of an entity with nothing queued closes it.
Either way a connection holds at most `limit` + one batch of messages, so a stalled client costs bounded
memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable

SLOW_CONSUMER = 4413


class SlowConsumer(Exception):
    pass


class Outbox:
    def __init__(self, limit: int, policy: str = "close") -> None:
        if policy not in ("close", "coalesce"):
            raise ValueError(f"unknown slow-consumer policy {policy!r}")
        self.limit = limit
        self.policy = policy
        self._queue: deque[list[object]] = deque()  # cells: [coalesce key or None, text]
        self._latest: dict[Hashable, list[object]] = {}
        self._ready = asyncio.Event()
        self.coalesced = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._queue)

    def put_batch(self, items: list[tuple[Hashable, str]]) -> None:
        """Queue one batch of events (key: subscription and entity). A batch is taken whole when fewer than
        `limit` messages wait (so a client that keeps up is never refused for a big batch); otherwise the
        policy applies: SlowConsumer, or coalescing into queued events of the same key."""
        if len(self._queue) < self.limit:
            coalescing = self.policy == "coalesce"
            for key, text in items:
                cell: list[object] = [key, text]
                self._queue.append(cell)
                if coalescing:
                    self._latest[key] = cell
            self._ready.set()
            return
        for key, text in items:
            queued = self._latest.get(key) if self.policy == "coalesce" else None
            if queued is None:
                self.overflowed = True
                raise SlowConsumer(f"more than {self.limit} messages waiting")
            queued[1] = text
            self.coalesced += 1

    def put_control(self, text: str) -> None:
        """A protocol message (complete, error, pong): never coalesced, never refused."""
        self._queue.append([None, text])
        self._ready.set()

    async def get(self) -> str:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        cell = self._queue.popleft()
        key = cell[0]
        if key is not None and self._latest.get(key) is cell:
            del self._latest[key]
        text = cell[1]
        assert isinstance(text, str)
        return text
