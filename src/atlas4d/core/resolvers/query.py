"""Root query fields: lookups by id and filtered, paginated lists."""

from __future__ import annotations

import uuid

import strawberry

from atlas4d.core import filters as f
from atlas4d.core.context import Info
from atlas4d.core.queries import (
    ANOMALY_COLUMNS,
    ENTITY_COLUMNS,
    TRACK_COLUMNS,
    keyset_page,
    observations_page,
    page_size,
    track_filter_sql,
)
from atlas4d.core.resolvers.lookahead import selects
from atlas4d.core.schema.connection import Connection, connection
from atlas4d.core.schema.inputs import (
    AnomalyFilter,
    EntityFilter,
    ObservationFilter,
    TimeOrder,
    TrackFilter,
    observation_filter,
)
from atlas4d.core.schema.types import Anomaly, Entity, Observation, Track, parse_uuid, require_uuid
from atlas4d.core.sql import Params
from atlas4d.errors import BadInput


def _first(info: Info, first: int | None) -> int:
    s = info.context.settings
    return page_size(first, s.default_page_size, s.max_page_size)


async def entity(info: Info, id: strawberry.ID) -> Entity | None:
    row = await info.context.loaders.entity().load(require_uuid(id))
    return Entity.from_row(row) if row else None


async def observation(info: Info, id: strawberry.ID) -> Observation | None:
    key = f.parse_bigint(id)
    if key is None:
        return None
    row = await info.context.loaders.observation().load(key)
    return Observation.from_row(row) if row else None


async def track(info: Info, id: strawberry.ID) -> Track | None:
    row = await info.context.loaders.track().load(require_uuid(id))
    return Track.from_row(row) if row else None


async def observations(
    info: Info,
    filter: ObservationFilter | None = None,
    first: int | None = None,
    after: str | None = None,
    order_by: TimeOrder = TimeOrder.TIME_DESC,
) -> Connection[Observation]:
    page = await observations_page(
        info.context.pool,
        observation_filter(filter),
        _first(info, first),
        after,
        order_by is TimeOrder.TIME_DESC,
        sliced=info.context.settings.time_slices,
    )
    result = connection(page, Observation.from_row)
    if selects(info, ("nodes", "entity"), ("edges", "node", "entity")):
        await preload_entities(info, result.nodes)
    return result


async def preload_entities(info: Info, observations: list[Observation]) -> None:
    """Attach each observation's entity from one batched load (one statement, as the loader would), so
    `entity` resolves without an awaitable per object."""
    by_text: dict[str, uuid.UUID] = {}
    for o in observations:
        if o.entity_id is not None and o.entity_id not in by_text:
            by_text[o.entity_id] = uuid.UUID(o.entity_id)
    rows = await info.context.loaders.entity().load_many(list(by_text.values()))
    entities = {str(row["id"]): Entity.from_row(row) for row in rows if row is not None}
    for o in observations:
        if o.entity_id is not None:
            o._entity = entities.get(o.entity_id)


async def entities(
    info: Info, filter: EntityFilter | None = None, first: int | None = None, after: str | None = None
) -> Connection[Entity]:
    params = Params()
    clauses = (filter or EntityFilter()).to_domain().sql(params)
    page = await keyset_page(
        info.context.pool,
        kind="e",
        table="atlas4d.entities e",
        columns=ENTITY_COLUMNS,
        clauses=clauses,
        params=params,
        first=_first(info, first),
        after=after,
        key="e.id",
        key_type="uuid",
    )
    result = connection(page, Entity.from_row)
    if selects(info, ("nodes", "latestObservation"), ("edges", "node", "latestObservation")):
        await preload_latest_observations(info, result.nodes)
    return result


async def preload_latest_observations(info: Info, entities: list[Entity]) -> None:
    """Attach each entity's latest observation from one batched load, so `latestObservation` resolves
    without an awaitable per entity (as `preload_entities` does for observation pages)."""
    rows = await info.context.loaders.latest_observation().load_many([uuid.UUID(e.id) for e in entities])
    for entity, row in zip(entities, rows, strict=True):
        entity._latest = Observation.from_row(row) if row else None


async def tracks(
    info: Info, filter: TrackFilter | None = None, first: int | None = None, after: str | None = None
) -> Connection[Track]:
    params = Params()
    clauses = track_clauses(params, filter or TrackFilter())
    page = await keyset_page(
        info.context.pool,
        kind="t",
        table="atlas4d.tracks tr",
        columns=TRACK_COLUMNS,
        clauses=clauses,
        params=params,
        first=_first(info, first),
        after=after,
        key="tr.id",
        key_type="uuid",
    )
    return connection(page, Track.from_row)


async def anomalies(
    info: Info, filter: AnomalyFilter | None = None, first: int | None = None, after: str | None = None
) -> Connection[Anomaly]:
    params = Params()
    clauses = anomaly_clauses(params, filter or AnomalyFilter())
    page = await keyset_page(
        info.context.pool,
        kind="a",
        table="atlas4d.anomalies a",
        columns=ANOMALY_COLUMNS,
        clauses=clauses,
        params=params,
        first=_first(info, first),
        after=after,
        key="a.id",
        key_type="int",
    )
    return connection(page, Anomaly.from_row)


def track_clauses(params: Params, flt: TrackFilter) -> list[str]:
    """The WHERE clauses of `tracks(filter:)` (alias `tr`), also `trackUpdated`'s matcher (core/live.py)."""
    spatial = f.ObservationFilter(
        bbox=flt.bbox.to_domain() if flt.bbox else None,
        within=f.parse_area(flt.within) if flt.within is not None else None,
        near=flt.near.to_domain() if flt.near else None,
    )
    if flt.min_length_meters is not None:
        f.NumberRange(flt.min_length_meters, None, "minLengthMeters")
    return track_filter_sql(
        params,
        ids=f.parse_uuids(flt.ids, "ids"),
        entity_ids=f.parse_uuids(flt.entity_ids, "entityIds"),
        source_types=f.texts(flt.source_types, "sourceTypes"),
        kinds=f.texts(flt.kinds, "kinds"),
        spatial=spatial,
        time=flt.time.to_domain() if flt.time else None,
        min_length=flt.min_length_meters,
    )


def anomaly_clauses(params: Params, flt: AnomalyFilter) -> list[str]:
    """The WHERE clauses of `anomalies(filter:)` (alias `a`), also `anomalyDetected`'s matcher."""
    clauses: list[str] = []
    if flt.types is not None:
        clauses.append(f"a.anomaly_type = ANY({params.add(f.texts(flt.types, 'types'), 'text[]')})")
    if flt.min_severity is not None:
        clauses.append(f"a.severity >= {params.add(flt.min_severity)}")
    if flt.min_score is not None:
        f.NumberRange(flt.min_score, None, "minScore")
        clauses.append(f"a.score >= {params.add(flt.min_score)}")
    if flt.time is not None:
        clauses.extend(flt.time.to_domain().sql("a.detected_at", params))
    if flt.observation_ids is not None:
        ids = [f.parse_bigint(i) for i in flt.observation_ids]
        if any(i is None for i in ids):
            raise BadInput("observationIds must be observation ids", field="observationIds")
        clauses.append(f"a.observation_id = ANY({params.add(ids, 'bigint[]')})")
    if flt.observations is not None:
        inner = flt.observations.to_domain().sql(params)
        clauses.append(f"a.observation_id IN (SELECT o.id FROM atlas4d.observations_core o {f.where(inner)})")
    return clauses


__all__ = [
    "anomalies",
    "anomaly_clauses",
    "entities",
    "entity",
    "observation",
    "observations",
    "parse_uuid",
    "track",
    "track_clauses",
    "tracks",
]
