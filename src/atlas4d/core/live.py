"""Core's live topics for atlas4d.streaming: how rows named by a change notice are read back, matched and
turned into the root values of `Subscription.observationAdded`, `anomalyDetected` and `trackUpdated`.

Rows are read with the query path's own columns (`OBSERVATION_COLUMNS`: the position rule included; for
observations plus the entity's kind), one statement per batch, in notice order (commit order) then id order.
Observations are matched in process (streaming/matching.py); anomalies and tracks by the query fields' own
WHERE clauses in PostgreSQL (streaming/sql_index.py). A track updated several times in one batch is sent once,
in its state when read.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import timedelta
from typing import Any

from atlas4d.core.queries import ANOMALY_COLUMNS, OBSERVATION_COLUMNS, TRACK_COLUMNS
from atlas4d.core.resolvers.query import anomaly_clauses, track_clauses
from atlas4d.core.schema.inputs import AnomalyFilter, TrackFilter, observation_filter
from atlas4d.core.schema.inputs import ObservationFilter as ObservationFilterInput
from atlas4d.core.schema.types import Anomaly, Observation, Track
from atlas4d.core.sql import Params
from atlas4d.streaming.changes import ANOMALIES, OBSERVATIONS, TRACKS, Change
from atlas4d.streaming.matching import ObservationIndex, ObservationSpec
from atlas4d.streaming.sql_index import SqlIndex

READ_OBSERVATIONS = (
    f"SELECT {OBSERVATION_COLUMNS}, e.kind "
    "FROM unnest($1::int8[], $2::int8[]) WITH ORDINALITY AS r(lo, hi, n) "
    "JOIN atlas4d.observations_core o ON o.id BETWEEN r.lo AND r.hi "
    "LEFT JOIN atlas4d.entities e ON e.id = o.entity_id "
    "WHERE o.t >= $3 AND o.t <= $4 "
    "ORDER BY r.n, o.id"
)
READ_ANOMALIES = (
    f"SELECT {ANOMALY_COLUMNS} "
    "FROM unnest($1::int8[], $2::int8[]) WITH ORDINALITY AS r(lo, hi, n) "
    "JOIN atlas4d.anomalies a ON a.id BETWEEN r.lo AND r.hi "
    "ORDER BY r.n, a.id"
)
READ_TRACKS = (
    f"SELECT {TRACK_COLUMNS} FROM unnest($1::uuid[]) WITH ORDINALITY AS r(id, n) "
    "JOIN atlas4d.tracks tr ON tr.id = r.id ORDER BY r.n"
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


def anomaly_spec(value: AnomalyFilter | None) -> AnomalyFilter | None:
    """The filter, validated now as `anomalies(filter:)` validates it (same errors for bad input)."""
    if value is not None:
        anomaly_clauses(Params(), value)
    return value


def track_spec(value: TrackFilter | None) -> TrackFilter | None:
    if value is not None:
        track_clauses(Params(), value)
    return value


class AnomalyTopic:
    name = "anomalies"
    change_kind = ANOMALIES

    def index(self) -> SqlIndex:
        return SqlIndex("atlas4d.anomalies a", "a.id", "int8", anomaly_clauses)

    async def read(self, conn: Any, changes: Sequence[Change]) -> list[Any]:
        lows = [lo for c in changes for lo, _ in c.ranges]
        highs = [hi for c in changes for _, hi in c.ranges]
        return list(await conn.fetch(READ_ANOMALIES, lows, highs))

    def event(self, row: Any) -> Anomaly:
        return Anomaly.from_row(row)

    def entity_key(self, row: Any) -> Hashable:
        return ("anomaly", row["id"])  # every anomaly is news: never coalesced with another


class TrackTopic:
    name = "tracks"
    change_kind = TRACKS

    def index(self) -> SqlIndex:
        return SqlIndex("atlas4d.tracks tr", "tr.id", "uuid", track_clauses)

    async def read(self, conn: Any, changes: Sequence[Change]) -> list[Any]:
        ids = list(dict.fromkeys(t for c in changes for t in c.tracks))
        return list(await conn.fetch(READ_TRACKS, ids))

    def event(self, row: Any) -> Track:
        return Track.from_row(row)

    def entity_key(self, row: Any) -> Hashable:
        return ("track", row["id"])  # coalescing keeps a track's latest state


def core_topics() -> list[Any]:
    return [ObservationTopic(), AnomalyTopic(), TrackTopic()]
