"""The public extension point for module subscriptions: a module turns core's change notices into its own
events, with core's delivery guarantees, without touching the hub.

A module declares, in `Module.live_topics`, one `DerivedTopic` per kind of event:

- `name`: the topic its subscription resolvers return `Feed(name, spec)` for (prefix it with the module's
  name, `airspace.zone_events`);
- `listens_to`: the change channel it reads — `"observations"`, `"anomalies"` or `"tracks"` (the rows core's
  statement triggers announce, whoever wrote them: GraphQL, REST, bulk, connectors, another replica, SQL), or
  `"module:<module>.<name>"` for rows of the module's own tables, which its migrations announce the way core
  does: a statement trigger sending `pg_notify('atlas4d_changes', 'm;<module>.<name>;<key>,<key>,…')` (keys
  without commas, a notice under 8,000 bytes — split a big statement's keys over several);
- `events_sql`: one statement, in the module's own schema (typically a SQL function its migrations create),
  that turns a batch of changed keys into event rows. Its parameters, by channel:
    observations: `$1 int8[]` low ids, `$2 int8[]` high ids (inclusive ranges), `$3`/`$4` the rows' time span
                  (timestamptz, for partition pruning);
    anomalies:    `$1 int8[]` low ids, `$2 int8[]` high ids;
    tracks:       `$1 uuid[]` track ids;
    module:<…>:   `$1 text[]` the keys, in notice order (the same key twice in a batch is passed once).
  The ranges come in notice order (commit order): the statement must return its events in that order
  (`unnest($1, $2) WITH ORDINALITY` then id), which is the order every subscriber receives them in;
- `matches(spec, row)`: whether a subscription's validated filter (the `spec` its resolver put in the feed)
  accepts an event row — a plain predicate on the row's columns, the same conditions as the module's query
  field, since the spatial work is done once per batch by `events_sql`;
- `event(row)`: the subscription field's root value; `entity_key(row)`: what the slow-consumer `coalesce`
  policy may replace (return a key unique to the event to never coalesce it).

The hub reads a topic's events once per batch and tenant, inside the read-only transaction whose
`current_tenant` is the subscribers' tenant, so row-level security decides what `events_sql` sees, exactly as
for the module's queries; only topics somebody subscribed to are read.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atlas4d.streaming.changes import ANOMALIES, OBSERVATIONS, TRACKS, Change, module_kind
from atlas4d.streaming.hub import Feed
from atlas4d.streaming.sql_index import SpecRegistry

CHANNELS = {"observations": OBSERVATIONS, "anomalies": ANOMALIES, "tracks": TRACKS}
MODULE_CHANNEL = "module:"

__all__ = ["CHANNELS", "DerivedTopic", "Feed", "PredicateIndex"]


class PredicateIndex(SpecRegistry):
    """The live subscriptions of one derived topic: each event row tested with the topic's predicate."""

    def __init__(self, matches: Callable[[Any, Any], bool]) -> None:
        super().__init__()
        self._matches = matches

    async def match(self, rows: Sequence[Any], now: datetime, conn: Any) -> dict[object, list[int]]:
        del now, conn
        out: dict[object, list[int]] = {}
        for owner, spec in self._specs.values():
            chosen = [i for i, row in enumerate(rows) if spec is None or self._matches(spec, row)]
            if chosen:
                out[owner] = chosen
        return out


def _unique(row: Any) -> Hashable:
    return tuple(row.values())


@dataclass(frozen=True)
class DerivedTopic:
    """A module's kind of event, derived by SQL from one core change channel (see the module docstring)."""

    name: str
    listens_to: str
    events_sql: str
    matches: Callable[[Any, Any], bool]
    event: Callable[[Any], Any]
    entity_key: Callable[[Any], Hashable] = _unique

    def __post_init__(self) -> None:
        if self.listens_to.startswith(MODULE_CHANNEL):
            module_kind(self.listens_to.removeprefix(MODULE_CHANNEL))  # ValueError when malformed
        elif self.listens_to not in CHANNELS:
            raise ValueError(
                f"topic {self.name!r} listens to {self.listens_to!r}; the channels are {sorted(CHANNELS)} "
                "and `module:<module>.<name>`"
            )

    @property
    def change_kind(self) -> str:
        if self.listens_to.startswith(MODULE_CHANNEL):
            return module_kind(self.listens_to.removeprefix(MODULE_CHANNEL))
        return CHANNELS[self.listens_to]

    def index(self) -> PredicateIndex:
        return PredicateIndex(self.matches)

    async def read(self, conn: Any, changes: Sequence[Change]) -> list[Any]:
        if self.listens_to.startswith(MODULE_CHANNEL):
            keys = list(dict.fromkeys(k for c in changes for k in c.keys))
            return list(await conn.fetch(self.events_sql, keys))
        if self.listens_to == "tracks":
            ids = list(dict.fromkeys(t for c in changes for t in c.tracks))
            return list(await conn.fetch(self.events_sql, ids))
        lows = [lo for c in changes for lo, _ in c.ranges]
        highs = [hi for c in changes for _, hi in c.ranges]
        if self.listens_to == "anomalies":
            return list(await conn.fetch(self.events_sql, lows, highs))
        t_min = min(c.t_min for c in changes if c.t_min is not None)
        t_max = max(c.t_max for c in changes if c.t_max is not None)
        return list(await conn.fetch(self.events_sql, lows, highs, t_min, t_max))
