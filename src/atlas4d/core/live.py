"""Core's live topics for atlas4d.streaming: how rows named by a change notice are read back, matched and
turned into the root values of `Subscription.observationAdded`.

Rows are read with the query path's own columns (`OBSERVATION_COLUMNS`: the position rule included) plus the
entity's kind, one statement per batch, in notice order (commit order) then id order.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import timedelta
from typing import Any

from atlas4d.core.queries import OBSERVATION_COLUMNS
from atlas4d.core.schema.inputs import ObservationFilter as ObservationFilterInput
from atlas4d.core.schema.inputs import observation_filter
from atlas4d.core.schema.types import Observation
from atlas4d.streaming.changes import OBSERVATIONS, Change
from atlas4d.streaming.matching import ObservationIndex, ObservationSpec

READ_OBSERVATIONS = (
    f"SELECT {OBSERVATION_COLUMNS}, e.kind "
    "FROM unnest($1::int8[], $2::int8[]) WITH ORDINALITY AS r(lo, hi, n) "
    "JOIN atlas4d.observations_core o ON o.id BETWEEN r.lo AND r.hi "
    "LEFT JOIN atlas4d.entities e ON e.id = o.entity_id "
    "WHERE o.t >= $3 AND o.t <= $4 "
    "ORDER BY r.n, o.id"
)


def observation_spec(value: ObservationFilterInput | None) -> ObservationSpec:
    """The query path's validated filter (same errors for bad input), and the sliding `last` window."""
    flt = observation_filter(value)
    last = value.time.last if value is not None and value.time is not None else None
    return ObservationSpec(flt, last if isinstance(last, timedelta) else None)


class ObservationTopic:
    name = "observations"
    change_kind = OBSERVATIONS

    def index(self) -> ObservationIndex:
        return ObservationIndex()

    async def read(self, conn: Any, changes: Sequence[Change]) -> list[Any]:
        lows = [lo for c in changes for lo, _ in c.ranges]
        highs = [hi for c in changes for _, hi in c.ranges]
        t_min = min(c.t_min for c in changes if c.t_min is not None)
        t_max = max(c.t_max for c in changes if c.t_max is not None)
        return list(await conn.fetch(READ_OBSERVATIONS, lows, highs, t_min, t_max))

    def event(self, row: Any) -> Observation:
        return Observation.from_row(row)

    def entity_key(self, row: Any) -> Hashable:
        return row["entity_id"] or ("observation", row["id"])


def core_topics() -> list[Any]:
    return [ObservationTopic()]
