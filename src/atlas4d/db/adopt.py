"""`atlas4d db adopt`: entities and tracks for an existing Atlas4D database, inferred from its observations.

The original Atlas4D has no entity table and no stored tracks: its observations carry a `track_id` (one per
trip, or one per row in its Burgas seed), sometimes an `entity_id`, and a `metadata` object in which its
telecom seed names each node (`name`) and each traffic metric the node it measures (`node`). Adoption reads
those and writes only this project's tables (`atlas4d.entities`, `atlas4d.tracks`); the original's rows are
read, never written.

Inference, in order (docs/core-spec-compat.md, "atlas4d db adopt"):

1. an `entity_id` some observations carry without a row in `atlas4d.entities` becomes that entity;
2. a track whose observations carry no `entity_id` (at least one of them placed by the position rule)
   belongs to the entity named by its latest `metadata.name`, else its latest `metadata.node` (the same key:
   a node's traffic metrics join the node), else to an entity of its own (the track is the only identity the
   original gives the thing that moved). Ids are `uuid5(ADOPT_NAMESPACE, "name:<name>")` /
   `uuid5(ADOPT_NAMESPACE, "track:<track_id>")`, so a second run finds the same ids;
3. every `track_id` with at least one placed observation (the position rule) whose stored track is missing
   or differs in span or point count is refreshed (`atlas4d.refresh_tracks`), then linked to its entity
   where the track has none.

Everything runs in one transaction: an interrupted adoption leaves nothing half-written. A second run on
unchanged data writes nothing (every count is 0).

`--link-observations` (opt-in, the one step that writes the original's table): afterwards, observations of
the tracks adopted in step 2 get their track's entity in `entity_id`, so `Entity.observations`,
`latestObservation` and `Observation.entity` find them (without it they are reached through `Entity.tracks`).
Only `entity_id`, only where it is null. Whole tracks per transaction, `LINK_BATCH` tracks at a time, after
the adoption committed: a big table is never locked in one go, and an interrupted run is finished by the next
one (a track is either linked or not; linked tracks no longer count as "naming no entity").
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
import orjson

from atlas4d.core.position import has_position_sql

ADOPT_NAMESPACE = uuid.UUID("6f1c2a4e-8d3b-5e7a-9c41-a4d0c0de0014")
REFRESH_BATCH = 500
LINK_BATCH = 500


def _latest(expr: str, present: str | None = None) -> str:
    """The value of `expr` in the group's latest row (by t, then id) where it is present (not null)."""
    return f"(array_agg({expr} ORDER BY o.t DESC, o.id DESC) FILTER (WHERE {present or f'{expr} IS NOT NULL'}))[1]"


_NAME = "nullif(btrim(o.metadata->>'name'), '')"
_NODE = "nullif(btrim(o.metadata->>'node'), '')"
_LATEST_COLUMNS = f"""{_latest("o.source_type")} AS source_type, {_latest(_NAME)} AS name,
       {_latest("o.metadata", "jsonb_typeof(o.metadata) = 'object'")} AS metadata"""

# Entity ids observations carry that have no entity row: kind and name from their latest rows.
_LOOSE_ENTITY_IDS = f"""
SELECT o.entity_id AS id, {_LATEST_COLUMNS}
FROM atlas4d.observations_core o
WHERE o.entity_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM atlas4d.entities e WHERE e.id = o.entity_id)
GROUP BY o.entity_id
"""

# Tracks whose observations name no entity, with at least one placed observation (the rows a track is made
# of): the keys the original's metadata gives them.
_UNOWNED_TRACKS = f"""
SELECT o.track_id, max(o.t) AS last_t, {_LATEST_COLUMNS}, {_latest(_NODE)} AS node
FROM atlas4d.observations_core o
WHERE o.track_id IS NOT NULL
GROUP BY o.track_id
HAVING bool_and(o.entity_id IS NULL) AND bool_or({has_position_sql("o")})
ORDER BY o.track_id
"""

_INSERT_ENTITIES = """
INSERT INTO atlas4d.entities (id, kind, name, source_type, properties)
SELECT u.id, u.kind, u.name, u.source_type, u.properties::jsonb
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(id, kind, name, source_type, properties)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

_STALE_TRACKS = f"""
SELECT d.track_id
FROM (
    SELECT o.track_id, count(*)::integer AS n, min(o.t) AS start_time, max(o.t) AS end_time
    FROM atlas4d.observations_core o
    WHERE o.track_id IS NOT NULL AND {has_position_sql("o")}
    GROUP BY o.track_id
) d
LEFT JOIN atlas4d.tracks tr ON tr.id = d.track_id
WHERE tr.id IS NULL OR tr.point_count <> d.n OR tr.start_time <> d.start_time OR tr.end_time <> d.end_time
ORDER BY d.track_id
"""

_LINK_OBSERVATIONS = """
UPDATE atlas4d.observations_core o SET entity_id = tr.entity_id
FROM atlas4d.tracks tr
WHERE tr.id = ANY($1::uuid[]) AND tr.entity_id IS NOT NULL AND o.track_id = tr.id AND o.entity_id IS NULL
"""

_LINK_TRACKS = """
UPDATE atlas4d.tracks tr SET entity_id = m.entity_id
FROM unnest($1::uuid[], $2::uuid[]) AS m(track_id, entity_id)
WHERE tr.id = m.track_id AND tr.entity_id IS NULL
RETURNING tr.id
"""


@dataclass
class AdoptReport:
    """What one adoption wrote (all zero on a second run over unchanged data)."""

    entities_created: int = 0
    entities_by_rule: dict[str, int] = field(default_factory=dict)
    tracks_refreshed: int = 0
    tracks_linked: int = 0
    observations_linked: int = 0
    entities_total: int = 0
    tracks_total: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Entity:
    id: uuid.UUID
    kind: str
    name: str | None
    source_type: str | None
    properties: dict[str, Any]
    rule: str


def adopted_entity_id(key: str) -> uuid.UUID:
    """The id adoption gives the entity of `key` (`name:<name>` or `track:<uuid>`)."""
    return uuid.uuid5(ADOPT_NAMESPACE, key)


def _properties(metadata: Any, rule: str, key: str) -> dict[str, Any]:
    base = orjson.loads(metadata) if isinstance(metadata, str | bytes) else (metadata or {})
    return {**(base if isinstance(base, dict) else {}), "adopted": {"rule": rule, "key": key}}


def infer_entities(loose: list[Any], tracks: list[Any]) -> tuple[list[_Entity], dict[uuid.UUID, uuid.UUID]]:
    """Entities to create, and the entity of every track whose observations name none."""
    entities: dict[uuid.UUID, _Entity] = {}
    for r in loose:
        entities[r["id"]] = _Entity(
            r["id"], r["source_type"] or "unknown", r["name"], r["source_type"],
            _properties(r["metadata"], "entity_id", str(r["id"])), "entity_id",
        )  # fmt: skip
    # the track that names an entity (the latest one, if several) defines its kind and properties
    named: dict[str, Any] = {}
    for r in tracks:
        if r["name"] is not None and (r["name"] not in named or r["last_t"] > named[r["name"]]["last_t"]):
            named[r["name"]] = r
    owner: dict[uuid.UUID, uuid.UUID] = {}
    for r in tracks:
        name = r["name"] or r["node"]
        if name is not None:
            ident = adopted_entity_id(f"name:{name}")
            if ident not in entities:
                defining = named.get(name)
                rule = "metadata.name" if defining is not None else "metadata.node"
                source = defining["source_type"] if defining is not None else None
                metadata = defining["metadata"] if defining is not None else None
                entities[ident] = _Entity(
                    ident, source or "unknown", name, source, _properties(metadata, rule, name), rule
                )
        else:
            ident = adopted_entity_id(f"track:{r['track_id']}")
            entities[ident] = _Entity(
                ident, r["source_type"] or "unknown", None, r["source_type"],
                _properties(r["metadata"], "track_id", str(r["track_id"])), "track_id",
            )  # fmt: skip
        owner[r["track_id"]] = ident
    return list(entities.values()), owner


async def adopt_database(conn: asyncpg.Connection, link_observations: bool = False) -> AdoptReport:
    """Infer and write entities and tracks (one transaction); the original's tables are only read, unless
    `link_observations` (module docstring)."""
    report = AdoptReport()
    async with conn.transaction():
        await conn.execute("SET LOCAL statement_timeout = 0")  # a whole database is read, once
        entities, owner = infer_entities(
            await conn.fetch(_LOOSE_ENTITY_IDS), await conn.fetch(_UNOWNED_TRACKS)
        )
        created = {
            r["id"]
            for r in await conn.fetch(
                _INSERT_ENTITIES,
                [e.id for e in entities],
                [e.kind for e in entities],
                [e.name for e in entities],
                [e.source_type for e in entities],
                [orjson.dumps(e.properties).decode() for e in entities],
            )
        }
        report.entities_created = len(created)
        for e in entities:
            if e.id in created:
                report.entities_by_rule[e.rule] = report.entities_by_rule.get(e.rule, 0) + 1
        stale = [r["track_id"] for r in await conn.fetch(_STALE_TRACKS)]
        for start in range(0, len(stale), REFRESH_BATCH):
            report.tracks_refreshed += int(
                await conn.fetchval(
                    "SELECT atlas4d.refresh_tracks($1::uuid[])", stale[start : start + REFRESH_BATCH]
                )
            )
        linked = await conn.fetch(_LINK_TRACKS, list(owner), list(owner.values()))
        report.tracks_linked = len(linked)
        report.entities_total = int(await conn.fetchval("SELECT count(*) FROM atlas4d.entities"))
        report.tracks_total = int(await conn.fetchval("SELECT count(*) FROM atlas4d.tracks"))
    if link_observations:
        tracks = sorted(owner)
        for start in range(0, len(tracks), LINK_BATCH):
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = 0")
                status = await conn.execute(_LINK_OBSERVATIONS, tracks[start : start + LINK_BATCH])
            report.observations_linked += int(status.split()[-1])
    return report
