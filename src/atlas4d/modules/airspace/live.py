"""Live zone events: the airspace module's subscription source (atlas4d.streaming.derived).

Core's observation notices are turned into events by `atlas4d_airspace.zone_events` (migration 0003: the
zoneViolations rule for "inside", each observation compared with its aircraft's previous one), one statement
per batch and tenant; each subscription's filter is then a plain test on the event's columns, with the
validation and error codes of the `zoneViolations` query's arguments.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from atlas4d.core import filters as f
from atlas4d.errors import BadInput
from atlas4d.streaming.derived import DerivedTopic

TOPIC = "airspace.zone_events"
ZONE_EVENTS_SQL = "SELECT * FROM atlas4d_airspace.zone_events($1::int8[], $2::int8[], $3, $4)"
KINDS = ("ENTERED", "INSIDE", "LEFT")


@dataclass(frozen=True)
class ZoneEventSpec:
    """A subscription's validated filter; None: any."""

    kinds: frozenset[str] | None = None
    zone_ids: frozenset[uuid.UUID] | None = None
    zone_kinds: frozenset[str] | None = None
    entity_ids: frozenset[uuid.UUID] | None = None


def zone_event_spec(
    kinds: Sequence[str] | None,
    zone_ids: Sequence[str] | None,
    zone_kinds: Sequence[str] | None,
    entity_ids: Sequence[str] | None,
) -> ZoneEventSpec:
    """Validated as `zoneViolations(zoneIds:, zoneKinds:)` validates them (same codes)."""
    if zone_kinds is not None:
        for i, v in enumerate(zone_kinds):
            if not v.strip():
                raise BadInput(f"zoneKinds[{i}] must not be blank", field="zoneKinds", index=i)
    zones = f.parse_uuids(zone_ids, "zoneIds")
    entities = f.parse_uuids(entity_ids, "entityIds")
    return ZoneEventSpec(
        kinds=frozenset(kinds) if kinds is not None else None,
        zone_ids=frozenset(zones) if zones is not None else None,
        zone_kinds=frozenset(zone_kinds) if zone_kinds is not None else None,
        entity_ids=frozenset(entities) if entities is not None else None,
    )


def matches(spec: ZoneEventSpec, row: Any) -> bool:
    return (
        (spec.kinds is None or row["event"] in spec.kinds)
        and (spec.zone_ids is None or row["zone_id"] in spec.zone_ids)
        and (spec.zone_kinds is None or row["zone_kind"] in spec.zone_kinds)
        and (spec.entity_ids is None or row["entity_id"] in spec.entity_ids)
    )


def _event_key(row: Any) -> Hashable:
    return ("zone_event", row["observation_id"], row["zone_id"])  # every event is news: never coalesced


def live_topics() -> list[DerivedTopic]:
    from atlas4d.modules.airspace.types import ZoneEvent

    return [
        DerivedTopic(
            name=TOPIC,
            listens_to="observations",
            events_sql=ZONE_EVENTS_SQL,
            matches=matches,
            event=ZoneEvent.from_row,
            entity_key=_event_key,
        )
    ]
