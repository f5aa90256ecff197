"""Change notices: the keys of rows a committed statement wrote, as the database triggers of migration 0009
send them (`atlas4d_changes`), and as the other brokers carry them unchanged.

A notice names rows, it never carries them: subscribers read the rows back in batches, so a payload never
approaches PostgreSQL's 8,000-byte NOTIFY limit whatever the rows hold (a statement's keys are split over
as many notices as needed, ~150 id ranges each).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CHANNEL = "atlas4d_changes"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

OBSERVATIONS, ANOMALIES, TRACKS = "o", "a", "k"
# a module's own rows: `m;<channel>;<key>,<key>,…` (channel `<module>.<table>`, keys without commas);
# the change's kind is `m:<channel>` (atlas4d.streaming.derived, docs/streaming.md)
MODULE = "m"
MODULE_CHANNEL = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def module_kind(channel: str) -> str:
    if not MODULE_CHANNEL.match(channel):
        raise ValueError(f"a module change channel is `<module>.<name>` in lower case, not {channel!r}")
    return f"{MODULE}:{channel}"


@dataclass(frozen=True)
class Change:
    """One notice: the table (`o`, `a`, `k`, or `m:<channel>` for a module's rows), the id ranges (observations,
    anomalies; inclusive), track ids or a module's keys, and for observations the time span of the rows (for
    partition pruning when reading them back)."""

    kind: str
    ranges: tuple[tuple[int, int], ...] = ()
    tracks: tuple[uuid.UUID, ...] = ()
    t_min: datetime | None = None
    t_max: datetime | None = None
    keys: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges) + len(self.tracks) + len(self.keys)


class BadNotice(ValueError):
    pass


def _instant(micros: str) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))


def _ranges(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        out.append((int(lo), int(hi or lo)))
    return tuple(out)


def parse_change(payload: str) -> Change:
    """A notice's payload (see migration 0009); BadNotice when it is not one of ours."""
    try:
        kind, _, rest = payload.partition(";")
        if kind == OBSERVATIONS:
            t_min, t_max, ranges = rest.split(";", 2)
            return Change(kind, _ranges(ranges), t_min=_instant(t_min), t_max=_instant(t_max))
        if kind == ANOMALIES:
            return Change(kind, _ranges(rest))
        if kind == TRACKS:
            return Change(kind, tracks=tuple(uuid.UUID(t) for t in rest.split(",")))
        if kind == MODULE:
            channel, _, keys = rest.partition(";")
            if keys:
                return Change(module_kind(channel), keys=tuple(keys.split(",")))
    except (ValueError, OverflowError) as exc:
        raise BadNotice(payload[:80]) from exc
    raise BadNotice(payload[:80])


def format_change(change: Change) -> str:
    """The payload of a notice (the inverse of parse_change), for brokers that republish notices."""
    if change.kind == TRACKS:
        return "k;" + ",".join(str(t) for t in change.tracks)
    if change.kind.startswith(MODULE + ":"):
        return f"{MODULE};{change.kind[2:]};" + ",".join(change.keys)
    ranges = ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in change.ranges)
    if change.kind == OBSERVATIONS:
        assert change.t_min is not None and change.t_max is not None
        lo = (change.t_min - EPOCH) // timedelta(microseconds=1)
        hi = -((EPOCH - change.t_max) // timedelta(microseconds=1))
        return f"o;{lo};{hi};{ranges}"
    return f"{change.kind};{ranges}"
