"""POST /api/observations: the original's ingest body, validated field by field, stored all-or-nothing.

Original body: `{"lat", "lon", "source_type" = "manual", "speed_ms"?, "heading_deg"?, "metadata"?}`, time
`now()`. Also accepted here: `t` (ISO-8601 with a zone), `altitude_m`, `entity_id`, `track_id`; unknown keys
are ignored as the original did. An unknown `entity_id` creates the entity (kind 'unknown'), the same rule as
the GraphQL ingest; a `track_id` gets its track row refreshed.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from atlas4d.core.filters import has_nul
from atlas4d.core.ingest import stored
from atlas4d.errors import BadInput, BatchTooLarge, InvalidItem
from atlas4d.rest.sql import rest_sql

DEFAULT_SOURCE_TYPE = "manual"
_NUMBERS: dict[str, tuple[float, float]] = {
    "lat": (-90, 90),
    "lon": (-180, 180),
    "altitude_m": (-12_000, 1_000_000),
    "speed_ms": (0, 1e5),
    "heading_deg": (0, 360),
}


@dataclass(frozen=True)
class NewObservation:
    t: datetime | None
    lat: float
    lon: float
    source_type: str
    track_id: uuid.UUID | None
    entity_id: uuid.UUID | None
    altitude_m: float | None
    speed_ms: float | None
    heading_deg: float | None
    metadata: dict[str, Any]


def _fail(index: int | None, name: str, message: str) -> BadInput:
    if index is None:
        return BadInput(f"{name} {message}", field=name)
    return InvalidItem(f"[{index}].{name} {message}; nothing was stored", index=index, field=name)


def _number(body: Mapping[str, Any], name: str, index: int | None, required: bool) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _fail(index, name, "is required")
        return None
    if isinstance(value, str):  # the original's model (pydantic, lax) took numeric strings: so do we
        text = value
        try:
            value = float(text)
        except ValueError:
            raise _fail(index, name, f"must be a finite number, got {text[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(index, name, f"must be a finite number, got {str(value)[:40]!r}")
    lo, hi = _NUMBERS[name]
    if not lo <= value <= hi:
        raise _fail(index, name, f"must be within {lo:g}..{hi:g}, got {value}")
    return float(value)


def _uuid(body: Mapping[str, Any], name: str, index: int | None) -> uuid.UUID | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _fail(index, name, f"is not a UUID: {str(value)[:60]!r}") from None


def _time(body: Mapping[str, Any], index: int | None) -> datetime | None:
    value = body.get("t")
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(index, "t", "must be an ISO-8601 string")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(index, "t", f"is not an ISO-8601 time: {value[:40]!r}") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise _fail(index, "t", "must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
    try:
        return t.astimezone(UTC)
    except OverflowError:
        raise _fail(index, "t", f"is out of range once in UTC: {value[:40]!r}") from None


_has_nul = has_nul  # PostgreSQL text and jsonb cannot hold U+0000 anywhere, keys included


def parse_observation(body: Any, index: int | None = None) -> NewObservation:
    if not isinstance(body, Mapping):
        raise _fail(index, "body", "must be a JSON object")
    source_type = body.get("source_type", DEFAULT_SOURCE_TYPE)
    if not isinstance(source_type, str) or not source_type.strip() or len(source_type) > 200:
        raise _fail(index, "source_type", "must be a non-empty string of at most 200 characters")
    if _has_nul(source_type):
        raise _fail(index, "source_type", "must not contain NUL characters")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise _fail(index, "metadata", "must be a JSON object")
    if _has_nul(metadata):
        raise _fail(index, "metadata", "must not contain NUL characters (U+0000) in keys or strings")
    lat = _number(body, "lat", index, required=True)
    lon = _number(body, "lon", index, required=True)
    assert lat is not None and lon is not None
    return NewObservation(
        t=_time(body, index),
        lat=lat,
        lon=lon,
        source_type=source_type,
        track_id=_uuid(body, "track_id", index),
        entity_id=_uuid(body, "entity_id", index),
        altitude_m=_number(body, "altitude_m", index, required=False),
        speed_ms=_number(body, "speed_ms", index, required=False),
        heading_deg=_number(body, "heading_deg", index, required=False),
        metadata=dict(metadata or {}),
    )


def parse_body(body: Any, max_batch: int) -> list[NewObservation]:
    """One object, or an array of objects (each error names its index)."""
    if isinstance(body, list):
        if not body:
            raise BadInput("the array of observations is empty", field="body")
        if len(body) > max_batch:
            raise BatchTooLarge(
                f"{len(body)} observations in one call; the most is {max_batch}", maximum=max_batch
            )
        return [parse_observation(item, i) for i, item in enumerate(body)]
    return [parse_observation(body)]


async def insert_observations(pool: asyncpg.Pool, items: list[NewObservation]) -> list[int]:
    """Store the items in one transaction; their new ids, in input order."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        entity_ids = sorted({it.entity_id for it in items if it.entity_id is not None})
        if entity_ids:
            sources = {it.entity_id: it.source_type for it in items}
            await conn.execute(
                "INSERT INTO atlas4d.entities (id, kind, source_type) "
                "SELECT id, 'unknown', s FROM unnest($1::uuid[], $2::text[]) AS u(id, s) "
                "ON CONFLICT (id) DO NOTHING",
                entity_ids,
                [sources[e] for e in entity_ids],
            )
        rows = await conn.fetch(
            rest_sql("insert_observations.sql"),
            [it.t or now for it in items],
            [it.source_type for it in items],
            [it.track_id for it in items],
            [it.entity_id for it in items],
            [it.lat for it in items],
            [it.lon for it in items],
            [it.altitude_m for it in items],
            [it.speed_ms for it in items],
            [it.heading_deg for it in items],
            [it.metadata for it in items],
        )
        track_ids = sorted({it.track_id for it in items if it.track_id is not None})
        if track_ids:
            await conn.execute("SELECT atlas4d.refresh_tracks($1::uuid[])", track_ids)
    stored(len(rows))  # committed
    # ids come from one sequence in row order, so ascending ids are input order
    return sorted(int(r["id"]) for r in rows)
