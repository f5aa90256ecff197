"""Validated writes: entities, observation batches, anomalies.

A whole batch is validated before anything is written, then written in one transaction, so a bad item
never leaves half a batch behind. Large observation batches go through binary COPY with the geometry
built client-side as EWKB (no per-row geometry construction on the server).

Entity rule: an observation naming an unknown `entity_id` creates that entity (kind `entity_kind`,
default 'unknown', and the observation's source type) unless `auto_create_entities` is false, in which
case the batch is refused with the index of the first such item.
"""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from atlas4d.core.pgcopy import HEADER, TRAILER, encode_rows
from atlas4d.core.values import check_instant, has_nul
from atlas4d.errors import BadTimeRange, BatchTooLarge, Conflict, InvalidItem
from atlas4d.observe import metrics

MAX_REPORTED_ERRORS = 100
OBSERVATION_COPY_COLUMNS = (
    "t",
    "geom",
    "source_type",
    "track_id",
    "entity_id",
    "lat",
    "lon",
    "altitude_m",
    "speed_ms",
    "heading_deg",
    "metadata",
)
Connection = asyncpg.Connection | PoolConnectionProxy
_EWKB_POINT_HEADER = struct.pack("<BII", 1, 0x20000001, 4326)


def ewkb_point(lon: float, lat: float) -> bytes:
    """EWKB of POINT(lon lat) with SRID 4326, as PostGIS' binary input expects."""
    return _EWKB_POINT_HEADER + struct.pack("<dd", lon, lat)


@dataclass(frozen=True)
class ItemError:
    index: int
    field: str
    message: str


@dataclass(frozen=True)
class ObservationItem:
    time: datetime
    lon: float
    lat: float
    altitude: float | None = None
    speed: float | None = None
    heading: float | None = None
    source_type: str | None = None
    entity_id: str | None = None
    entity_kind: str | None = None
    track_id: str | None = None
    metadata: Any = None


@dataclass(frozen=True)
class IngestSummary:
    accepted: int
    entities_created: int
    tracks_updated: int


def batch_error(kind: str, errors: list[ItemError], total: int) -> InvalidItem:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidItem(
        f"{kind}[{first.index}].{first.field}: {first.message}{more}; nothing was stored",
        index=first.index,
        field=first.field,
        invalidItems=[{"index": e.index, "field": e.field, "message": e.message} for e in errors],
        invalidCount=len(errors),
        total=total,
    )


def _check_number(
    errors: list[ItemError], i: int, name: str, value: float | None, lo: float, hi: float
) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        errors.append(ItemError(i, name, f"must be a finite number, got {value!r}"))
    elif not lo <= value <= hi:
        errors.append(ItemError(i, name, f"must be within {lo:g}..{hi:g}, got {value}"))


def _check_text(errors: list[ItemError], i: int, name: str, value: object) -> None:
    if has_nul(value):
        errors.append(ItemError(i, name, "contains a NUL character, which PostgreSQL cannot store"))
    elif isinstance(value, dict | list):
        error = json_error(value)
        if error:
            errors.append(ItemError(i, name, error))


def json_error(value: object) -> str | None:
    """Why a JSON value cannot be stored as jsonb (too deep, an integer beyond 64 bits), or None."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        return f"cannot be stored as JSON: {exc}"
    return None


def _uuid(errors: list[ItemError], i: int, name: str, value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        errors.append(ItemError(i, name, f"is not a UUID: {str(value)[:60]!r}"))
        return None


def validate_observations(
    items: Sequence[ObservationItem], max_batch: int
) -> tuple[list[tuple[Any, ...]], dict[uuid.UUID, tuple[str, str | None]]]:
    """Rows ready for COPY and the entities they name (id → kind, source type); raises on any bad item."""
    if len(items) > max_batch:
        raise BatchTooLarge(f"{len(items)} items in one call; the most is {max_batch}", maximum=max_batch)
    errors: list[ItemError] = []
    rows: list[tuple[Any, ...]] = []
    entities: dict[uuid.UUID, tuple[str, str | None]] = {}
    for i, it in enumerate(items):
        before = len(errors)
        if not isinstance(it.time, datetime):
            errors.append(ItemError(i, "time", "is required"))
        elif it.time.tzinfo is None or it.time.utcoffset() is None:
            errors.append(ItemError(i, "time", "must carry a time zone (e.g. 2026-01-01T00:00:00Z)"))
        else:
            try:
                check_instant(it.time, "time")
            except BadTimeRange:
                errors.append(ItemError(i, "time", "is outside years 1..9999"))
        _check_number(errors, i, "lon", it.lon, -180, 180)
        _check_number(errors, i, "lat", it.lat, -90, 90)
        if it.lon is None:
            errors.append(ItemError(i, "lon", "is required"))
        if it.lat is None:
            errors.append(ItemError(i, "lat", "is required"))
        _check_number(errors, i, "altitude", it.altitude, -12_000, 1_000_000)
        _check_number(errors, i, "speed", it.speed, 0, 1e5)
        _check_number(errors, i, "heading", it.heading, 0, 360)
        if it.metadata is not None and not isinstance(it.metadata, Mapping):
            errors.append(ItemError(i, "metadata", "must be a JSON object"))
        _check_text(errors, i, "metadata", it.metadata)
        _check_text(errors, i, "sourceType", it.source_type)
        _check_text(errors, i, "entityKind", it.entity_kind)
        entity_id = _uuid(errors, i, "entityId", it.entity_id)
        track_id = _uuid(errors, i, "trackId", it.track_id)
        if it.entity_kind is not None and not it.entity_kind.strip():
            errors.append(ItemError(i, "entityKind", "must not be blank"))
        if len(errors) > before:
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
            continue
        if entity_id is not None and entity_id not in entities:
            entities[entity_id] = (it.entity_kind or "unknown", it.source_type)
        rows.append(
            (
                it.time,
                ewkb_point(it.lon, it.lat),
                it.source_type,
                track_id,
                entity_id,
                it.lat,
                it.lon,
                it.altitude,
                it.speed,
                it.heading,
                it.metadata,
            )
        )
    if errors:
        raise batch_error("observations", errors[:MAX_REPORTED_ERRORS], len(items))
    return rows, entities


# --- the one write step (mutation, bulk HTTP, `atlas4d ingest FILE`, and later connectors) ----------------
#
# Lock order, so concurrent batches never deadlock: observation rows take no row locks; entities are
# inserted in id order; tracks are locked (advisory, in refresh_tracks) in id order, always after entities.
# Every writer of these tables in this package follows it (create_entities also inserts in id order).

EntityKinds = dict[uuid.UUID, tuple[str, str | None]]


@dataclass
class PendingWrite:
    """What a transaction has written so far and must finish before it commits: the entities its rows name
    and, per track, the earliest time it added (for the incremental track refresh)."""

    entities: EntityKinds = field(default_factory=dict)
    tracks: dict[uuid.UUID, datetime] = field(default_factory=dict)
    accepted: int = 0

    def add(self, rows: Sequence[tuple[Any, ...]], entities: EntityKinds) -> None:
        for key, value in entities.items():
            self.entities.setdefault(key, value)
        tracks = self.tracks
        for r in rows:
            track, t = r[3], r[0]
            if track is not None:
                known = tracks.get(track)
                if known is None or t < known:
                    tracks[track] = t
        self.accepted += len(rows)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def write_observations(conn: Connection, rows: list[tuple[Any, ...]], copy_threshold: int) -> None:
    """Validated rows (see `validate_observations`) into observations_core: binary COPY from
    `copy_threshold` rows on (encoded by `atlas4d.core.pgcopy`, not asyncpg's per-value codecs), one
    INSERT … unnest below it."""
    if len(rows) >= copy_threshold:
        await conn.copy_to_table(
            "observations_core",
            schema_name="atlas4d",
            columns=list(OBSERVATION_COPY_COLUMNS),
            source=_one(HEADER + encode_rows(rows) + TRAILER),  # bare bytes would be taken for a path
            format="binary",
        )
    else:
        columns = list(zip(*rows, strict=True))
        await conn.execute(
            f"INSERT INTO atlas4d.observations_core ({', '.join(OBSERVATION_COPY_COLUMNS)}) "
            "SELECT * FROM unnest($1::timestamptz[], $2::geometry[], $3::text[], $4::uuid[], $5::uuid[], "
            "$6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::jsonb[])",
            *[list(c) for c in columns],
        )


async def missing_entities(conn: Connection, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The ids among `ids` that name no entity (read only; for autoCreateEntities = false)."""
    known = {
        r["id"] for r in await conn.fetch("SELECT id FROM atlas4d.entities WHERE id = ANY($1::uuid[])", ids)
    }
    return [e for e in ids if e not in known]


async def finish(conn: Connection, pending: PendingWrite, *, auto_create_entities: bool) -> IngestSummary:
    """The end of a write, inside its transaction: create the named entities (in id order), then refresh the
    touched tracks (locked in id order, extended when the new points all come after the stored end)."""
    created = 0
    if pending.entities and auto_create_entities:
        ids = sorted(pending.entities)
        result = await conn.execute(
            "INSERT INTO atlas4d.entities (id, kind, source_type) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) ON CONFLICT (id) DO NOTHING",
            ids,
            [pending.entities[k][0] for k in ids],
            [pending.entities[k][1] for k in ids],
        )
        created = int(result.split()[-1])
    return IngestSummary(pending.accepted, created, await refresh_tracks(conn, pending.tracks))


async def refresh_tracks(conn: Connection, since: Mapping[uuid.UUID, datetime]) -> int:
    """Bring the tracks up to date after adding observations (`since`: earliest new time per track)."""
    if not since:
        return 0
    ids = sorted(since)
    updated = await conn.fetchval(
        "SELECT atlas4d.refresh_tracks($1::uuid[], $2::timestamptz[])", ids, [since[k] for k in ids]
    )
    return int(updated)


async def ingest_observations(
    pool: asyncpg.Pool,
    items: Sequence[ObservationItem],
    *,
    max_batch: int,
    copy_threshold: int,
    auto_create_entities: bool = True,
) -> IngestSummary:
    """Validate a batch, then store it in one transaction (all or nothing)."""
    rows, entities = validate_observations(items, max_batch)
    if not rows:
        return IngestSummary(0, 0, 0)
    async with pool.acquire() as conn:
        async with conn.transaction():
            if entities and not auto_create_entities:
                missing = await missing_entities(conn, list(entities))
                if missing:
                    index = next(
                        i for i, it in enumerate(items) if it.entity_id and uuid.UUID(it.entity_id) in missing
                    )
                    message = f"entity {missing[0]} does not exist (autoCreateEntities is false)"
                    raise batch_error("observations", [ItemError(index, "entityId", message)], len(items))
            await write_observations(conn, rows, copy_threshold)
            pending = PendingWrite()
            pending.add(rows, entities)
            summary = await finish(conn, pending, auto_create_entities=auto_create_entities)
        stored(summary.accepted)
        return summary


def stored(rows: int) -> None:
    """Count rows in `atlas4d_ingest_rows_total` once their transaction has committed (a write that fails at
    commit, e.g. on a deferred constraint, stored nothing): every face calls it after its commit."""
    metrics.ingest_rows("all", rows)


@dataclass(frozen=True)
class EntityItem:
    kind: str
    id: str | None = None
    name: str | None = None
    source_type: str | None = None
    properties: Any = None


async def create_entities(
    pool: asyncpg.Pool, items: Sequence[EntityItem], *, max_batch: int, on_conflict: str = "error"
) -> list[asyncpg.Record]:
    if len(items) > max_batch:
        raise BatchTooLarge(f"{len(items)} items in one call; the most is {max_batch}", maximum=max_batch)
    errors: list[ItemError] = []
    ids: list[uuid.UUID] = []
    seen: dict[uuid.UUID, int] = {}
    for i, it in enumerate(items):
        if not it.kind or not it.kind.strip():
            errors.append(ItemError(i, "kind", "must not be blank"))
        if it.properties is not None and not isinstance(it.properties, Mapping):
            errors.append(ItemError(i, "properties", "must be a JSON object"))
        for name, value in (
            ("kind", it.kind),
            ("name", it.name),
            ("sourceType", it.source_type),
            ("properties", it.properties),
        ):
            _check_text(errors, i, name, value)
        ident = _uuid(errors, i, "id", it.id) if it.id is not None else uuid.uuid4()
        if ident is not None:
            if ident in seen:
                errors.append(ItemError(i, "id", f"repeats item {seen[ident]}"))
            seen[ident] = i
            ids.append(ident)
    if errors:
        raise batch_error("entities", errors[:MAX_REPORTED_ERRORS], len(items))
    conflict = {
        "error": "",
        "skip": "ON CONFLICT (id) DO NOTHING",
        "update": "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, "
        "source_type = excluded.source_type, properties = excluded.properties",
    }[on_conflict]
    async with pool.acquire() as conn, conn.transaction():
        try:
            await conn.execute(
                "INSERT INTO atlas4d.entities (id, kind, name, source_type, properties) "
                # in id order, as every writer of entities (see PendingWrite): no deadlock between batches
                "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) "
                "ORDER BY 1 " + conflict,
                ids,
                [it.kind for it in items],
                [it.name for it in items],
                [it.source_type for it in items],
                [it.properties if it.properties is not None else {} for it in items],
            )
        except asyncpg.UniqueViolationError as exc:
            existing = {
                r["id"]
                for r in await pool.fetch("SELECT id FROM atlas4d.entities WHERE id = ANY($1::uuid[])", ids)
            }
            index = next((i for i, e in enumerate(ids) if e in existing), 0)
            raise Conflict(
                f"entities[{index}].id: entity {ids[index]} already exists; nothing was stored "
                "(use onConflict: SKIP or UPDATE)",
                index=index,
                field="id",
            ) from exc
        return list(
            await conn.fetch(
                "SELECT id, kind, name, source_type, properties, created_at FROM atlas4d.entities "
                "WHERE id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], id)",
                ids,
            )
        )
