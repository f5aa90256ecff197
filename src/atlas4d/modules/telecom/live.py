"""Live network anomalies: the telecom module's subscription source (atlas4d.streaming.derived).

The module's own rows: migration 0003 announces each statement's new `atlas4d_telecom.anomalies` ids on the
module channel `telecom.anomalies`; a batch of them is read back in one statement (in notice order) and each
subscription's filter — the `networkAnomalies` query's arguments, validated by the same code — is tested on
the rows with the query's own predicates (`queries.anomaly_clauses`, in Python).
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from atlas4d.modules.telecom.queries import ANOMALY_COLUMNS, AnomalyArgs
from atlas4d.streaming.derived import DerivedTopic

TOPIC = "telecom.anomalies"
ANOMALY_EVENTS_SQL = (
    f"SELECT {ANOMALY_COLUMNS} FROM unnest($1::uuid[]) WITH ORDINALITY AS k(id, n) "
    "JOIN atlas4d_telecom.anomalies a ON a.id = k.id ORDER BY k.n"
)


@dataclass(frozen=True)
class AnomalySpec:
    args: AnomalyArgs
    node_ids: frozenset[uuid.UUID] | None = None


def matches(spec: AnomalySpec, row: Any) -> bool:
    """`queries.anomaly_clauses` (and the node list) on one row."""
    args = spec.args
    if args.types is not None and row["type"] not in args.types:
        return False
    if args.time is not None and args.time.start is not None and row["ended_at"] < args.time.start:
        return False
    if args.time is not None and args.time.end is not None and row["started_at"] >= args.time.end:
        return False
    if args.min_severity is not None and row["severity"] < args.min_severity:
        return False
    return spec.node_ids is None or row["node_id"] in spec.node_ids


def _event_key(row: Any) -> Hashable:
    return ("network_anomaly", row["id"])  # every anomaly is news: never coalesced


def live_topics() -> list[DerivedTopic]:
    from atlas4d.modules.telecom.schema.types import NetworkAnomaly

    return [
        DerivedTopic(
            name=TOPIC,
            listens_to="module:telecom.anomalies",
            events_sql=ANOMALY_EVENTS_SQL,
            matches=matches,
            event=NetworkAnomaly.from_row,
            entity_key=_event_key,
        )
    ]
