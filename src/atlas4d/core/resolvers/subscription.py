"""Subscriptions: each resolver validates its filter exactly as the matching query field does, then returns a
live `Feed` that atlas4d.streaming attaches to its hub (rows written after the subscription started, in
commit order; docs/streaming.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from atlas4d.core.context import Info
from atlas4d.core.live import anomaly_spec, observation_spec, track_spec
from atlas4d.core.schema.inputs import AnomalyFilter, ObservationFilter, TrackFilter
from atlas4d.core.schema.types import Anomaly, Observation, Track
from atlas4d.streaming.hub import Feed


async def observation_added(
    info: Info, filter: ObservationFilter | None = None
) -> AsyncIterator[Observation]:
    return Feed("observations", observation_spec(filter))


async def anomaly_detected(info: Info, filter: AnomalyFilter | None = None) -> AsyncIterator[Anomaly]:
    return Feed("anomalies", anomaly_spec(filter))


async def track_updated(info: Info, filter: TrackFilter | None = None) -> AsyncIterator[Track]:
    return Feed("tracks", track_spec(filter))
