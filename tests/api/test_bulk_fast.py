"""The bulk fast path and the binary COPY encoder, each against the path it replaces (the oracle).

- `atlas4d.bulk.fast.fast_rows` (NDJSON lines straight to COPY rows) either declines a chunk or returns
  exactly what the items' path returns (`parse.add_ndjson_line` + `validate_observations`), on generated lines
  that mix valid values with every kind of bad or unusual one; and it does not decline ordinary lines.
- `atlas4d.core.pgcopy.encode_rows` stores the same values as asyncpg's `copy_records_to_table` with the
  pool's codecs, edge values included (NULLs, year 1 and 9999 in far zones, ints for floats, nested JSON).
- The pipelined load (one COPY fed while the body is parsed): a line the fast path declines but the rules
  accept is stored like any other, and a bad line in a later chunk still leaves nothing, with the
  connection usable afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas4d.bulk.fast import fast_rows
from atlas4d.bulk.http import load_stream
from atlas4d.bulk.loader import SLICE_LINES, InvalidLines, copy_chunks, validated_rows
from atlas4d.bulk.parse import Chunk, add_ndjson_line
from atlas4d.bulk.stream import BulkBody, parsed
from atlas4d.core.ingest import OBSERVATION_COPY_COLUMNS, ewkb_point, write_observations

ENTITY = "2f0c0e8a-9d1b-4c55-8a2e-6b7f3d9e1a44"
TRACK = "b1d7c2aa-5e3f-4f10-9c8b-0a1e2d3c4b5a"


def slow_rows(lines: list[bytes]) -> tuple[list[tuple[Any, ...]], Any] | None:
    """The items' path (what the fast path must agree with): rows and entities, or None on any bad line."""
    chunk = Chunk([], [], [])
    for n, raw in enumerate(lines, start=1):
        add_ndjson_line(chunk, raw, n)
    try:
        return validated_rows(chunk)
    except InvalidLines:
        return None


times = (
    st.sampled_from(
        [
            "2026-03-01T08:00:00Z",
            "2026-03-01T08:00:00.123456+05:30",
            "2026-03-01 08:00:00-11:00",
            "2026-03-01T08:00:00",  # no zone
            "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
            "0001-01-03T00:00:00Z",
            "9999-12-31T23:00:00-12:00",  # after 9999 in UTC
            "9999-06-01T00:00:00Z",
            "yesterday",
            "",
        ]
    )
    | st.integers()
    | st.none()
)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-400, max_value=400),
    st.sampled_from([True, False, "1", 10**30, -(10**30), 179.99999, -90.0, 90.0, 360.0, 0.0]),
    st.none(),
)
texts = st.sampled_from(["gps", "radar", "", "  ", "a\x00b", 7, None, "ünïcode"])
ids = st.sampled_from(
    [ENTITY, TRACK, ENTITY.upper(), "{" + TRACK + "}", ENTITY.replace("-", ""), "x", 5, None]
)
metadata = st.sampled_from(
    [None, {}, {"plate": "A 1", "n": [1, 2.5, None, True]}, [1], "text", {"k": "a\x00"}, {"a\x00": 1}, 3]
)
FIELDS = {
    "time": times,
    "lon": numbers,
    "lat": numbers,
    "altitude": numbers,
    "speed": numbers,
    "heading": numbers,
    "sourceType": texts,
    "entityId": ids,
    "entityKind": texts,
    "trackId": ids,
    "metadata": metadata,
}


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object"] * 8 + ["unknown field", "array", "broken"]))
    if kind == "array":
        return b"[1, 2]"
    if kind == "broken":
        return b'{"time": "2026-03-01T08:00:00Z", "lon": 1'
    names = draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=len(FIELDS)))
    obj = {name: draw(FIELDS[name]) for name in sorted(names | {"time", "lon", "lat"})}
    if kind == "unknown field":
        obj["colour"] = "red"
    return json.dumps(obj).encode()  # not orjson: it cannot write the 10**30s


def valid_line(i: int) -> bytes:
    return orjson.dumps(
        {
            "time": (datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=i)).isoformat(),
            "lon": 27.4 + i / 1000,
            "lat": 42 + (i % 7),  # an int
            "speed": 3.5,
            "heading": 90,
            "sourceType": "gps",
            "entityId": ENTITY,
            "entityKind": "vehicle",
            "trackId": TRACK if i % 2 else None,
            "metadata": {"i": i} if i % 3 else None,
        }
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), min_size=1, max_size=4))
def test_fast_path_agrees_with_the_items_path(chunk: list[bytes]) -> None:
    fast = fast_rows(chunk)
    slow = slow_rows(chunk)
    if fast is not None:
        assert slow is not None, chunk  # the fast path never accepts what the rules refuse
        assert fast == slow
        assert [type(v) for row in fast[0] for v in row] == [type(v) for row in slow[0] for v in row]


def test_fast_path_takes_ordinary_lines() -> None:
    chunk = [valid_line(i) for i in range(50)]
    fast = fast_rows(chunk)
    assert fast is not None and fast == slow_rows(chunk)
    assert len(fast[0]) == 50 and list(fast[1]) == [uuid.UUID(ENTITY)]


EDGE_ROWS: list[tuple[Any, ...]] = [
    (
        datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC),
        ewkb_point(27.4, 42.5),
        "gps",
        uuid.UUID(TRACK),
        uuid.UUID(ENTITY),
        42.5,
        27.4,
        12.25,
        3.5,
        359.9,
        {"plate": "A 1", "nested": {"list": [1, 2.5, None, True, "ü"]}},
    ),
    (datetime(1, 1, 2, 23, 0, tzinfo=timezone(timedelta(hours=-11))), ewkb_point(-180, -90), None, None, None,
     -90, -180, None, None, None, None),
    (datetime(9999, 12, 30, 1, 0, tzinfo=timezone(timedelta(hours=13))), ewkb_point(180, 90), "ünï", None,
     uuid.UUID(ENTITY), 90, 180, -12_000, 0, 0, {}),
    (datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), ewkb_point(0.1, -0.1), "", uuid.UUID(TRACK),
     None, -0.1, 0.1, 1e6, 1e5, 360, {"k": ""}),
]  # fmt: skip
STORED = (
    "SELECT t, ST_AsEWKB(geom) AS geom, source_type, track_id, entity_id, lat, lon, altitude_m, speed_ms, "
    "heading_deg, metadata::text AS metadata FROM atlas4d.observations_core ORDER BY id"
)


async def test_encoder_stores_what_asyncpg_stores(clean_db: asyncpg.Pool) -> None:
    async with clean_db.acquire() as conn:
        await conn.copy_records_to_table(
            "observations_core", schema_name="atlas4d", columns=OBSERVATION_COPY_COLUMNS, records=EDGE_ROWS
        )
        by_asyncpg = [tuple(r) for r in await conn.fetch(STORED)]
        await conn.execute("TRUNCATE atlas4d.observations_core")
        await write_observations(conn, EDGE_ROWS, copy_threshold=0)
        ours = [tuple(r) for r in await conn.fetch(STORED)]
    assert len(ours) == len(EDGE_ROWS) and ours == by_asyncpg


async def load(pool: asyncpg.Pool, body: bytes, chunk_lines: int = 100) -> dict[str, int]:
    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 1000):  # pieces that cut lines anywhere
            yield body[i : i + 1000]

    async with pool.acquire() as conn:
        return await load_stream(
            conn, BulkBody(False, chunk_lines), pieces(), auto_create_entities=True, max_bytes=1 << 30
        )


async def test_a_line_the_fast_path_declines_is_stored_like_the_rest(clean_db: asyncpg.Pool) -> None:
    edge = orjson.dumps({"time": "9999-06-01T00:00:00Z", "lon": 1, "lat": 2, "entityId": ENTITY})
    assert fast_rows([edge]) is None and slow_rows([edge]) is not None
    body = b"\n".join([valid_line(i) for i in range(150)] + [edge] + [valid_line(i) for i in range(150, 300)])
    assert await load(clean_db, body) == {"accepted": 301, "entitiesCreated": 1, "tracksUpdated": 1}
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 301
    assert await clean_db.fetchval("SELECT max(t) FROM atlas4d.observations_core") == datetime(
        9999, 6, 1, tzinfo=UTC
    )


@pytest.mark.parametrize("where", [0, 150, 299])
async def test_bad_line_in_any_chunk_of_one_copy_stores_nothing(clean_db: asyncpg.Pool, where: int) -> None:
    body = [valid_line(i) for i in range(300)]
    body[where] = b'{"time": "2026-03-01T08:00:00Z", "lon": 1, "lat": 91}'
    with pytest.raises(InvalidLines) as refused:
        await load(clean_db, b"\n".join(body))
    assert (refused.value.extensions["line"], refused.value.extensions["field"]) == (where + 1, "lat")
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 0
    assert await load(clean_db, b"\n".join(valid_line(i) for i in range(300)))  # the pool is still sound
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 300


@pytest.mark.parametrize("bad", [None, 250])
async def test_a_load_spread_over_several_copies_is_still_all_or_nothing(
    clean_db: asyncpg.Pool, bad: int | None
) -> None:
    """segment_s=0: a new COPY after every chunk (what a load longer than a third of statement_timeout does)."""
    lines = [valid_line(i) for i in range(300)]
    if bad is not None:
        lines[bad] = b'{"time": "2026-03-01T08:00:00Z", "lon": 1, "lat": 2, "speed": -1}'

    async def pieces() -> AsyncIterator[bytes]:
        yield b"\n".join(lines)

    async with clean_db.acquire() as conn:
        if bad is None:
            async with conn.transaction():
                summary = await copy_chunks(conn, parsed(BulkBody(False, 100), pieces()), segment_s=0)
            assert summary.accepted == 300
        else:
            with pytest.raises(InvalidLines, match="line 251, field speed"):
                async with conn.transaction():  # as every caller: the failure rolls the transaction back
                    await copy_chunks(conn, parsed(BulkBody(False, 100), pieces()), segment_s=0)
    expected = 300 if bad is None else 0
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == expected


async def test_slices_of_a_big_chunk_keep_line_numbers_and_all_or_nothing(clean_db: asyncpg.Pool) -> None:
    """A 2,500-line chunk is parsed in slices of SLICE_LINES: errors from a later slice still name their
    lines (every bad line of the chunk from that slice on), an unusual valid line there is stored."""
    assert SLICE_LINES < 1_700
    lines = [valid_line(i) for i in range(2_500)]
    lines[1_700] = b'{"time": "2026-03-01T08:00:00Z", "lon": 1, "lat": 91}'
    lines[2_200] = b'{"time": "2026-03-01T08:00:00Z", "lon": 1, "lat": 2, "speed": -1}'
    with pytest.raises(InvalidLines) as refused:
        await load(clean_db, b"\n".join(lines), chunk_lines=3_000)
    assert [(e["line"], e["field"]) for e in refused.value.extensions["invalidItems"]] == [
        (1_701, "lat"),
        (2_201, "speed"),
    ]
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 0
    lines[1_700] = orjson.dumps({"time": "9999-06-01T00:00:00Z", "lon": 1, "lat": 2})
    lines[2_200] = valid_line(2_200)
    assert (await load(clean_db, b"\n".join(lines), chunk_lines=3_000))["accepted"] == 2_500
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.observations_core") == 2_500
