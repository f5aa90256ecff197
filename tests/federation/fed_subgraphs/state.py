"""Shared state of the test subgraphs (they run in the test process: in-process or uvicorn threads)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass
class MutationLog:
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    entries: list[str] = field(default_factory=list)

    def record(self, what: str) -> int:
        self.entries.append(what)
        return next(self.counter)

    def reset(self) -> None:
        self.counter = itertools.count(1)
        self.entries.clear()


MUTATIONS = MutationLog()


@dataclass
class Flaky:
    """How the `ratings` subgraph's HTTP server misbehaves: "ok", "down" (HTTP 503, not JSON) or "slow"."""

    mode: str = "ok"
    delay_s: float = 2.0


RATINGS = Flaky()
