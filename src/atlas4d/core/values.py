"""Checks of single input values that every write path shares, with no heavy imports (the CLI's `atlas4d
ingest` imports them; `atlas4d.core.filters` re-exports them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from atlas4d.errors import BadTimeRange

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # one day of margin for any time zone
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def check_instant(value: datetime, name: str) -> None:
    """A zone-aware time PostgreSQL and Python can both hold (years 1..9999 in every zone)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise BadTimeRange(f"time {name} is outside years 1..9999", field=name) from exc
    if not EARLIEST <= utc <= LATEST:
        raise BadTimeRange(f"time {name} is outside years 1..9999", field=name)


def has_nul(value: object) -> bool:
    """PostgreSQL text and jsonb cannot hold U+0000 (keys included); such input is refused as the client's
    error. Iterative: JSON nested 330 deep overflowed the recursive version (an INTERNAL error)."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, Mapping):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list | tuple):
            pending.extend(current)
    return False
