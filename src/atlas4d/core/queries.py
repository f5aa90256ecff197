"""Root-level reads of the core subgraph: one statement per page, keyset pagination, aggregates in SQL.

Resolvers and the REST layer both call these, so a filter means the same thing everywhere.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from atlas4d.core.filters import ObservationFilter, TimeRange, where
from atlas4d.core.position import lat_sql, lon_sql
from atlas4d.core.slices import PageStatement
from atlas4d.core.sql import Params
from atlas4d.errors import BadCursor, BadInput, PageTooLarge

OBSERVATION_COLUMNS = (
    f"o.id, o.t, {lon_sql('o')} AS lon, {lat_sql('o')} AS lat, o.altitude_m, o.speed_ms, o.heading_deg, "
    "o.source_type, o.entity_id, o.track_id, o.metadata"
)
ENTITY_COLUMNS = "e.id, e.kind, e.name, e.source_type, e.properties, e.created_at"
TRACK_COLUMNS = "tr.id, tr.entity_id, tr.source_type, tr.start_time, tr.end_time, tr.point_count, tr.length_m"
ANOMALY_COLUMNS = "a.id, a.observation_id, a.anomaly_type, a.severity, a.score, a.detected_at, a.metadata"


def page_size(first: int | None, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 0:
        raise BadInput(f"`first` must be >= 0, got {first}", field="first")
    if first > maximum:
        raise PageTooLarge(
            f"`first` is {first}; the largest page is {maximum}. Page with `after` instead.",
            maximum=maximum,
        )
    return first


# Cursors are opaque to clients; inside they are "<kind>:<sort key>:<id>".
def encode_cursor(kind: str, *parts: str) -> str:
    return base64.urlsafe_b64encode(":".join((kind, *parts)).encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, nparts: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("`after` is not a cursor returned by this API", field="after") from exc
    parts = raw.split(":", nparts)
    if len(parts) != nparts + 1 or parts[0] != kind:
        raise BadCursor("`after` is not a cursor of this list", field="after")
    return parts[1:]


@dataclass
class Page:
    """One page of rows; cursors are computed only when asked for (most clients read `nodes`)."""

    rows: list[asyncpg.Record]
    has_next: bool
    cursor_of: Callable[[asyncpg.Record], str]
    count_sql: str
    count_params: list[Any]
    has_previous: bool = False  # `after` was given: the rows before the cursor exist

    @property
    def cursors(self) -> list[str]:
        return [self.cursor_of(r) for r in self.rows]

    @property
    def start_cursor(self) -> str | None:
        return self.cursor_of(self.rows[0]) if self.rows else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursor_of(self.rows[-1]) if self.rows else None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def observation_cursor(row: asyncpg.Record) -> str:
    micros = (row["t"] - EPOCH) // timedelta(microseconds=1)
    return encode_cursor("o", str(micros), str(row["id"]))


def observation_cursor_key(cursor: str) -> tuple[datetime, int]:
    """The (t, id) an observation cursor points at."""
    micros, ident = decode_cursor("o", cursor, 2)
    try:
        t = EPOCH + timedelta(microseconds=int(micros))
        ident_i = int(ident)
        if not -(2**63) <= ident_i < 2**63:
            raise ValueError(ident)
    except (ValueError, OverflowError) as exc:
        raise BadCursor("`after` is not a cursor of this list", field="after") from exc
    return t, ident_i


def observation_after(cursor: str, descending: bool, params: Params) -> str:
    t, ident = observation_cursor_key(cursor)
    op = "<" if descending else ">"
    return f"(o.t, o.id) {op} ({params.add(t)}, {params.add(ident)})"


def observation_page_sql(
    flt: ObservationFilter,
    params: Params,
    *,
    limit: int,
    after: str | None,
    descending: bool,
    columns: str = OBSERVATION_COLUMNS,
) -> str:
    """One page of observations (`o`) in (t, id) order: the resolvers' and the compiled pages' statement."""
    clauses = flt.sql(params)
    if after:
        clauses = [*clauses, observation_after(after, descending, params)]
    direction = "DESC" if descending else "ASC"
    return (
        f"SELECT {columns} FROM atlas4d.observations_core o {where(clauses)} "
        f"ORDER BY o.t {direction}, o.id {direction} LIMIT {params.add(limit)}"
    )


def observation_statement(
    flt: ObservationFilter,
    *,
    limit: int,
    after: str | None,
    descending: bool,
    columns: str = OBSERVATION_COLUMNS,
    around: Callable[[str], str] | None = None,
    sliced: bool = False,
) -> PageStatement:
    """A page of observations as `observation_page_sql` (inside `around(sql)` when given), read in newest-first
    time slices when its filter allows (`atlas4d.core.slices`)."""

    def statement(part: ObservationFilter, rows: int) -> tuple[str, list[Any]]:
        params = Params()
        sql = observation_page_sql(
            part, params, limit=rows, after=after, descending=descending, columns=columns
        )
        return (sql if around is None else around(sql)), params.values

    after_t = observation_cursor_key(after)[0] if after else None
    return PageStatement(statement, flt, limit, descending, after_t, sliced)


async def observations_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    flt: ObservationFilter,
    first: int,
    after: str | None,
    descending: bool,
    columns: str = OBSERVATION_COLUMNS,
    sliced: bool = False,
) -> Page:
    count_params = Params()
    count_sql = f"SELECT count(*) FROM atlas4d.observations_core o {where(flt.sql(count_params))}"
    page = observation_statement(flt, limit=first + 1, after=after, descending=descending, columns=columns)
    rows = await page.fetch(conn)
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(rows, has_next, observation_cursor, count_sql, count_params.values, after is not None)


def keyset_after(kind: str, after: str, key: str, key_type: str, params: Params) -> str:
    """The predicate for the rows after cursor `after` of a list ordered by its unique `key`."""
    (value,) = decode_cursor(kind, after, 1)
    try:
        typed: Any = uuid.UUID(value) if key_type == "uuid" else int(value)
        if isinstance(typed, int) and not -(2**63) <= typed < 2**63:
            raise ValueError(value)
    except ValueError as exc:
        raise BadCursor("`after` is not a cursor of this list", field="after") from exc
    return f"{key} > {params.add(typed)}"


async def keyset_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    kind: str,
    table: str,
    columns: str,
    clauses: list[str],
    params: Params,
    first: int,
    after: str | None,
    key: str,
    key_type: str,
) -> Page:
    """Pages ordered by a unique key column (entities, tracks, anomalies)."""
    count_sql = f"SELECT count(*) FROM {table} {where(clauses)}"
    count_params = list(params.values)
    if after:
        clauses = [*clauses, keyset_after(kind, after, key, key_type, params)]
    sql = f"SELECT {columns} FROM {table} {where(clauses)} ORDER BY {key} LIMIT {params.add(first + 1)}"
    rows = await conn.fetch(sql, *params.values)
    has_next = len(rows) > first
    rows = rows[:first]
    key_name = key.split(".")[-1]
    return Page(
        rows,
        has_next,
        lambda r: encode_cursor(kind, str(r[key_name])),
        count_sql,
        count_params,
        after is not None,
    )


def track_filter_sql(
    params: Params,
    *,
    ids: list[uuid.UUID] | None,
    entity_ids: list[uuid.UUID] | None,
    source_types: list[str] | None,
    kinds: list[str] | None,
    spatial: ObservationFilter,
    time: TimeRange | None,
    min_length: float | None,
) -> list[str]:
    clauses = []
    if ids is not None:
        clauses.append(f"tr.id = ANY({params.add(ids, 'uuid[]')})")
    if entity_ids is not None:
        clauses.append(f"tr.entity_id = ANY({params.add(entity_ids, 'uuid[]')})")
    if source_types is not None:
        clauses.append(f"tr.source_type = ANY({params.add(source_types, 'text[]')})")
    if kinds is not None:
        clauses.append(
            f"tr.entity_id IN (SELECT id FROM atlas4d.entities WHERE kind = ANY({params.add(kinds, 'text[]')}))"
        )
    # spatial predicates of an observation filter apply to the track's line via the same SQL
    clauses.extend(spatial.sql(params, alias="tr", position_fallback=False))
    if time is not None:
        if time.start is not None:
            clauses.append(f"tr.end_time >= {params.add(time.start)}")
        if time.end is not None:
            clauses.append(f"tr.start_time < {params.add(time.end)}")
    if min_length is not None:
        clauses.append(f"tr.length_m >= {params.add(min_length)}")
    return clauses


async def count(conn: asyncpg.Connection | asyncpg.Pool, page: Page) -> int:
    value = await conn.fetchval(page.count_sql, *page.count_params)
    return int(value)
