"""The core subgraph schema (Strawberry, Apollo Federation 2)."""

from __future__ import annotations

from typing import Final

import strawberry
from strawberry.schema.config import StrawberryConfig

from atlas4d.core.resolvers import aggregates, mutation, query, subscription
from atlas4d.core.schema.scalars import SCALAR_MAP
from atlas4d.core.schema.types import Anomaly, Entity, Observation, Position, Track

FEDERATION_VERSION: Final = "2.7"


@strawberry.type
class Query:
    entity: Entity | None = strawberry.field(resolver=query.entity, description="An entity by id.")
    entities = strawberry.field(resolver=query.entities, description="Entities matching a filter, by id.")
    observation: Observation | None = strawberry.field(resolver=query.observation)
    observations = strawberry.field(
        resolver=query.observations, description="Observations matching a filter, newest first by default."
    )
    track: Track | None = strawberry.field(resolver=query.track)
    tracks = strawberry.field(resolver=query.tracks, description="Tracks matching a filter, by id.")
    anomalies = strawberry.field(resolver=query.anomalies, description="Anomalies matching a filter, by id.")
    observation_buckets = strawberry.field(
        resolver=aggregates.observation_buckets, description="A time histogram of matching observations."
    )
    observation_grid = strawberry.field(
        resolver=aggregates.observation_grid,
        description="Counts of matching observations per square cell (`cellSize`, degrees) or H3 cell.",
    )
    observations_geo_json = strawberry.field(
        resolver=aggregates.observations_geojson,
        name="observationsGeoJSON",
        description="Matching observations as a GeoJSON FeatureCollection built by PostGIS, newest first.",
    )


@strawberry.type
class Mutation:
    create_entities = strawberry.mutation(resolver=mutation.create_entities)
    ingest_observations = strawberry.mutation(
        resolver=mutation.ingest_observations,
        description="Store up to 10,000 observations; all or nothing.",
    )
    record_anomalies = strawberry.mutation(resolver=mutation.record_anomalies)


@strawberry.type
class Subscription:
    observation_added = strawberry.subscription(
        resolver=subscription.observation_added,
        description="Each observation matching `filter` written after the subscription started (by any writer: "
        "GraphQL, REST, bulk, connectors, another replica), in commit order per entity.",
    )
    anomaly_detected = strawberry.subscription(
        resolver=subscription.anomaly_detected,
        description="Each anomaly matching `filter` (as `anomalies(filter:)` would) recorded after the "
        "subscription started, in commit order.",
    )
    track_updated = strawberry.subscription(
        resolver=subscription.track_updated,
        description="Each track matching `filter` (as `tracks(filter:)` would) when it is created or extended "
        "after the subscription started, in its state at that moment (updates within one batch sent once).",
    )


def build_core_schema() -> strawberry.federation.Schema:
    schema = strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Position, Anomaly],
        federation_version=FEDERATION_VERSION,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
    mutation.install_fast_resolvers(schema._schema)
    return schema
