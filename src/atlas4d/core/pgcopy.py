"""Observation rows as PostgreSQL binary COPY data, encoded here in one pass instead of by asyncpg's per-value
codecs (`copy_records_to_table` calls the geometry and jsonb codecs, Python functions, for every row).

The rows are those `atlas4d.core.ingest.validate_observations` returns, in `OBSERVATION_COPY_COLUMNS` order:
(t, EWKB geometry, source type, track id, entity id, lat, lon, altitude, speed, heading, metadata). The bytes
are what asyncpg would send for the same rows (tests/db/test_pgcopy.py stores both and compares), so the
stored values do not depend on the path. Format: PostgreSQL's "COPY ... (FORMAT binary)": a header, per row a
16-bit field count then each field as a 32-bit length (-1: NULL) and its binary send form, a -1 trailer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from struct import Struct
from typing import Any

import orjson

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # signature, flags, extension
TRAILER = b"\xff\xff"
COLUMNS = 11
POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # timestamptz is microseconds since then, UTC
_MICROSECOND = timedelta(microseconds=1)
_NULL = b"\xff\xff\xff\xff"
_START = Struct(">hiqi").pack  # field count; t: length 8, microseconds; geometry length
_LAT_LON = Struct(">idid").pack  # lat then lon, each with its length 8
_F8 = Struct(">id").pack
_I32 = Struct(">i").pack
_UUID = b"\x00\x00\x00\x10"


def micros(t: datetime) -> int:
    """A zone-aware time as PostgreSQL's timestamptz: microseconds since 2000-01-01 UTC."""
    return (t - POSTGRES_EPOCH) // _MICROSECOND


def encode_rows(rows: Iterable[Sequence[Any]]) -> bytes:
    """The binary COPY tuples of validated observation rows (no header or trailer)."""
    out: list[bytes] = []
    append = out.append
    texts: dict[str, bytes] = {}
    uuids: dict[uuid.UUID, bytes] = {}
    for t, geom, source, track, entity, lat, lon, altitude, speed, heading, metadata in rows:
        append(_START(COLUMNS, 8, (t - POSTGRES_EPOCH) // _MICROSECOND, len(geom)))
        append(geom)
        if source is None:
            append(_NULL)
        else:
            encoded = texts.get(source)
            if encoded is None:
                data = source.encode()
                encoded = texts[source] = _I32(len(data)) + data
            append(encoded)
        for ident in (track, entity):
            if ident is None:
                append(_NULL)
            else:
                encoded = uuids.get(ident)
                if encoded is None:
                    encoded = uuids[ident] = _UUID + ident.bytes
                append(encoded)
        append(_LAT_LON(8, lat, 8, lon))
        append(_NULL if altitude is None else _F8(8, altitude))
        append(_NULL if speed is None else _F8(8, speed))
        append(_NULL if heading is None else _F8(8, heading))
        if metadata is None:
            append(_NULL)
        else:
            data = orjson.dumps(metadata)
            append(_I32(len(data) + 1))
            append(b"\x01")  # jsonb's binary format version
            append(data)
    return b"".join(out)
