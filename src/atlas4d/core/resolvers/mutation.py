"""Mutations: validated batch writes (see atlas4d.core.ingest for the rules)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLResolveInfo, GraphQLSchema

from atlas4d.core import ingest
from atlas4d.core.context import Context, Info
from atlas4d.core.filters import has_nul, parse_bigint
from atlas4d.core.queries import ANOMALY_COLUMNS
from atlas4d.core.schema.inputs import AnomalyInput, ConflictPolicy, EntityInput, ObservationInput
from atlas4d.core.schema.types import Anomaly, Entity
from atlas4d.errors import BatchTooLarge


@strawberry.type(description="What an ingest call stored.")
class IngestResult:
    accepted: int
    entities_created: int
    tracks_updated: int


async def create_entities(
    info: Info, entities: list[EntityInput], on_conflict: ConflictPolicy = ConflictPolicy.ERROR
) -> list[Entity]:
    items = [
        ingest.EntityItem(
            kind=e.kind, id=e.id, name=e.name, source_type=e.source_type, properties=e.properties
        )
        for e in entities
    ]
    rows = await ingest.create_entities(
        info.context.pool,
        items,
        max_batch=info.context.settings.max_ingest_batch,
        on_conflict=on_conflict.value,
    )
    return [Entity.from_row(r) for r in rows]


async def ingest_observations(
    info: Info, observations: list[ObservationInput], auto_create_entities: bool = True
) -> IngestResult:
    """The schema's declaration of `ingestObservations`; `install_fast_resolvers` swaps in
    `ingest_observations_fast`, which reads the same input without Strawberry's conversion."""
    items = [
        ingest.ObservationItem(
            time=o.time, lon=o.lon, lat=o.lat, altitude=o.altitude, speed=o.speed, heading=o.heading,
            source_type=o.source_type, entity_id=o.entity_id, entity_kind=o.entity_kind, track_id=o.track_id,
            metadata=o.metadata,
        )
        for o in observations
    ]  # fmt: skip
    return await _store(info.context, items, auto_create_entities)


async def ingest_observations_fast(
    _source: object, info: GraphQLResolveInfo[Any], observations: list[dict[str, Any]], **args: Any
) -> IngestResult:
    """`ingestObservations` as a plain graphql-core resolver over the already coerced input dicts.

    Strawberry's argument conversion walks every field of every item through its type machinery — about
    0.45 s for 10,000 observations, more than validation and COPY together — so the core schema installs
    this resolver in its place. Same validation, same result.
    """
    items = [
        ingest.ObservationItem(
            time=o["time"], lon=o["lon"], lat=o["lat"], altitude=o.get("altitude"), speed=o.get("speed"),
            heading=o.get("heading"), source_type=o.get("sourceType"), entity_id=o.get("entityId"),
            entity_kind=o.get("entityKind"), track_id=o.get("trackId"), metadata=o.get("metadata"),
        )
        for o in observations
    ]  # fmt: skip
    return await _store(info.context, items, args.get("autoCreateEntities", True))


async def _store(context: Context, items: list[ingest.ObservationItem], auto_create: bool) -> IngestResult:
    s = context.settings
    summary = await ingest.ingest_observations(
        context.pool,
        items,
        max_batch=s.max_ingest_batch,
        copy_threshold=s.copy_threshold,
        auto_create_entities=auto_create,
    )
    return IngestResult(
        accepted=summary.accepted,
        entities_created=summary.entities_created,
        tracks_updated=summary.tracks_updated,
    )


def install_fast_resolvers(schema: GraphQLSchema) -> None:
    """Swap in resolvers that read graphql-core's coerced arguments directly (see ingest_observations_fast)."""
    mutation = schema.mutation_type
    assert mutation is not None
    mutation.fields["ingestObservations"].resolve = ingest_observations_fast


async def record_anomalies(info: Info, anomalies: list[AnomalyInput]) -> list[Anomaly]:
    s = info.context.settings
    if len(anomalies) > s.max_ingest_batch:
        raise BatchTooLarge(f"{len(anomalies)} items in one call; the most is {s.max_ingest_batch}")
    errors: list[ingest.ItemError] = []
    ids: list[int] = []
    for i, a in enumerate(anomalies):
        oid = parse_bigint(a.observation_id)
        if oid is None:
            errors.append(ingest.ItemError(i, "observationId", "is not an observation id"))
        ids.append(oid if oid is not None else 0)
        for name, value in (("anomalyType", a.anomaly_type), ("metadata", a.metadata)):
            if has_nul(value):
                errors.append(ingest.ItemError(i, name, "contains a NUL character"))
        if a.metadata is not None and not isinstance(a.metadata, dict):
            errors.append(ingest.ItemError(i, "metadata", "must be a JSON object"))
        elif a.metadata is not None and (problem := ingest.json_error(a.metadata)):
            errors.append(ingest.ItemError(i, "metadata", problem))
        if not a.anomaly_type.strip():
            errors.append(ingest.ItemError(i, "anomalyType", "must not be blank"))
        if not 1 <= a.severity <= 5:
            errors.append(ingest.ItemError(i, "severity", f"must be within 1..5, got {a.severity}"))
        if not 0 <= a.score <= 1:
            errors.append(ingest.ItemError(i, "score", f"must be within 0..1, got {a.score}"))
        if a.detected_at is not None and a.detected_at.tzinfo is None:
            errors.append(ingest.ItemError(i, "detectedAt", "must carry a time zone"))
    if not errors:
        known = {
            r["id"]
            for r in await info.context.pool.fetch(
                "SELECT id FROM atlas4d.observations_core WHERE id = ANY($1::bigint[])", ids
            )
        }
        errors = [
            ingest.ItemError(i, "observationId", f"observation {o} does not exist")
            for i, o in enumerate(ids)
            if o not in known
        ]
    if errors:
        raise ingest.batch_error("anomalies", errors[: ingest.MAX_REPORTED_ERRORS], len(anomalies))
    rows = await info.context.pool.fetch(
        "INSERT INTO atlas4d.anomalies AS a (observation_id, anomaly_type, severity, score, detected_at, metadata) "
        "SELECT o, t, s, sc, coalesce(d, now()), m FROM unnest($1::bigint[], $2::text[], $3::int[], $4::float8[], "
        f"$5::timestamptz[], $6::jsonb[]) AS u(o, t, s, sc, d, m) RETURNING {ANOMALY_COLUMNS}",
        ids,
        [a.anomaly_type for a in anomalies],
        [a.severity for a in anomalies],
        [a.score for a in anomalies],
        [a.detected_at for a in anomalies],
        [a.metadata for a in anomalies],
    )
    return [Anomaly.from_row(r) for r in rows]
