"""Live geofence events: the mobility module's subscription source (atlas4d.streaming.derived).

Core's observation notices are turned into events by `atlas4d_mobility.geofence_events` (migration 0003:
the speedingEvents rule for "in a geofence", each observation compared with its entity's previous one), one
statement per batch and tenant; each subscription's filter is then a plain test on the event's columns, with
the validation and error codes of the `speedingEvents` query's arguments.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from atlas4d.core.filters import parse_uuids
from atlas4d.streaming.derived import DerivedTopic

TOPIC = "mobility.geofence_events"
GEOFENCE_EVENTS_SQL = "SELECT * FROM atlas4d_mobility.geofence_events($1::int8[], $2::int8[], $3, $4)"


@dataclass(frozen=True)
class GeofenceEventSpec:
    """A subscription's validated filter; None: any."""

    kinds: frozenset[str] | None = None
    geofence_ids: frozenset[uuid.UUID] | None = None
    entity_ids: frozenset[uuid.UUID] | None = None


def geofence_event_spec(
    kinds: Sequence[str] | None, geofence_ids: Sequence[str] | None, entity_ids: Sequence[str] | None
) -> GeofenceEventSpec:
    """Validated as `speedingEvents(geofenceIds:, entityIds:)` validates them (same codes)."""
    fences = parse_uuids(geofence_ids, "geofenceIds")
    entities = parse_uuids(entity_ids, "entityIds")
    return GeofenceEventSpec(
        kinds=frozenset(kinds) if kinds is not None else None,
        geofence_ids=frozenset(fences) if fences is not None else None,
        entity_ids=frozenset(entities) if entities is not None else None,
    )


def matches(spec: GeofenceEventSpec, row: Any) -> bool:
    return (
        (spec.kinds is None or row["event"] in spec.kinds)
        and (spec.geofence_ids is None or row["geofence_id"] in spec.geofence_ids)
        and (spec.entity_ids is None or row["entity_id"] in spec.entity_ids)
    )


def _event_key(row: Any) -> Hashable:
    # every event is news: never coalesced
    return ("geofence_event", row["observation_id"], row["geofence_id"], row["event"])


def live_topics() -> list[DerivedTopic]:
    from atlas4d.modules.mobility.schema.types import GeofenceEvent

    return [
        DerivedTopic(
            name=TOPIC,
            listens_to="observations",
            events_sql=GEOFENCE_EVENTS_SQL,
            matches=matches,
            event=GeofenceEvent.from_row,
            entity_key=_event_key,
        )
    ]
