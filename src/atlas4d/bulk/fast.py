"""The fast path of bulk NDJSON: raw lines straight to the rows `validate_observations` would return.

One pass per line: decode, check, build the COPY row, with no `ObservationItem` in between. It accepts a chunk
only when every line is one the mutation's rules accept, and then returns exactly the rows and entities that
`parse.add_ndjson_line` + `validate_observations` return for it (tests/api/test_bulk_fast.py checks that on
generated lines). Anything else, whether a bad line or merely an unusual one (a time in year 1 or 9999, a
huge integer), returns None, and the caller takes the slow path, which names each bad line and field. Whoever
changes a rule in `validate_observations` or `parse.add_object` must change it here too (the test fails
otherwise).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from struct import Struct
from typing import Any

import orjson

from atlas4d.bulk.parse import FIELD_SET
from atlas4d.core.ingest import EntityKinds, json_error
from atlas4d.core.values import has_nul

_POINT = Struct("<BIIdd").pack  # EWKB POINT with SRID 4326, as `core.ingest.ewkb_point`
_EWKB_POINT_SRID = 0x20000001


class _Slow(Exception):
    """This chunk needs the slow path."""


def _number(value: Any, lo: float, hi: float) -> Any:
    kind = type(value)
    if kind is not float and kind is not int:  # bool is its own type; orjson makes no subclasses
        raise _Slow
    if not math.isfinite(value) or not lo <= value <= hi:  # OverflowError (a huge int) is slow too
        raise _Slow
    return value


def _optional(value: Any, lo: float, hi: float) -> Any:
    return None if value is None else _number(value, lo, hi)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is not str or "\x00" in value:
        raise _Slow
    return value


def fast_rows(lines: Sequence[bytes]) -> tuple[list[tuple[Any, ...]], EntityKinds] | None:
    """The COPY rows and entities of non-blank NDJSON lines, or None when any line needs the slow path."""
    rows: list[tuple[Any, ...]] = []
    entities: EntityKinds = {}
    ids: dict[str, uuid.UUID] = {}
    loads = orjson.loads
    parse_time = datetime.fromisoformat
    append = rows.append
    try:
        for raw in lines:
            obj = loads(raw)
            if type(obj) is not dict or not obj.keys() <= FIELD_SET:
                return None
            get = obj.get
            text = get("time")
            if type(text) is not str:
                return None
            t = parse_time(text)
            # years 2..9998 are inside 1..9999 in every zone; the edges take the slow path's exact check
            if t.tzinfo is None or t.utcoffset() is None or not 1 < t.year < 9999:
                return None
            lon = _number(get("lon"), -180, 180)
            lat = _number(get("lat"), -90, 90)
            altitude = _optional(get("altitude"), -12_000, 1_000_000)
            speed = _optional(get("speed"), 0, 1e5)
            heading = _optional(get("heading"), 0, 360)
            source = _text(get("sourceType"))
            kind = _text(get("entityKind"))
            if kind is not None and not kind.strip():
                return None
            metadata = get("metadata")
            if metadata is not None and (
                type(metadata) is not dict or has_nul(metadata) or json_error(metadata)
            ):
                return None
            entity_id = track_id = None
            entity = get("entityId")
            if entity is not None:
                if type(entity) is not str:
                    return None
                entity_id = ids.get(entity)
                if entity_id is None:
                    entity_id = ids[entity] = uuid.UUID(entity)
                if entity_id not in entities:
                    entities[entity_id] = (kind or "unknown", source)
            track = get("trackId")
            if track is not None:
                if type(track) is not str:
                    return None
                track_id = ids.get(track)
                if track_id is None:
                    track_id = ids[track] = uuid.UUID(track)
            append(
                (
                    t,
                    _POINT(1, _EWKB_POINT_SRID, 4326, lon, lat),
                    source,
                    track_id,
                    entity_id,
                    lat,
                    lon,
                    altitude,
                    speed,
                    heading,
                    metadata,
                )
            )
    except (_Slow, ValueError, TypeError, OverflowError, orjson.JSONDecodeError):
        return None
    return rows, entities
