"""Pages of observations near a place, read newest-first in time slices.

A page `near`/`bbox`/`within` + time window, ordered by time, is answered by the (geography, t) and geometry
GiST indexes, which find the rows of the window in the area but cannot return them in time order: the plan
reads every row of the window in the area, sorts them and keeps the first page. Those rows grow with the
data (Q3 of `make bench`, 5 km and one day: ~1,300 rows at 1M observations, ~13,000 at 10M, for a page of
1,000), so the page's cost grew with the data too.

Here the window is read from its newest end (oldest for `TIME_ASC`) one slice at a time: the page's own
statement with the window narrowed to the slice and `LIMIT` the rows still missing. The first slice is an
hour; each next one is sized from the density seen so far to what is still missing (times 1.25), and is at least
as long as all slices before it, so a window of any length is covered in a few statements. Slices are
disjoint, half-open, in order, and each is sorted by (t, id), so their concatenation is the plain
statement's answer: rows with equal `t` always fall in one slice, and a cursor (`after`) only narrows the
window. The slices run in one REPEATABLE READ, read-only transaction: one snapshot, as one statement has.

A window no longer than the first slice, a window without a start, and filters without a spatial part (the
(t, id) btree already reads them in order) take the plain statement.

Off by default (`ATLAS4D_TIME_SLICES`), because measured it does not pay with today's indexes: the
(geography, t) GiST index is organised by geography (its first column decides every split), so each slice's
index scan still visits every entry near the point, of all times — Q3's 5 km at 10M: 2,307 index pages for a
one-hour slice, about half the whole day's. Q3's page statement alone, one connection: 1M plain 21 ms, sliced
58 ms; 10M plain 218 ms, sliced 248 ms. With a btree on (spatial cell, t) the same read of [t of the 1,000th
row, end) cost 213 pages at 1M and 220 at 10M (12 vs 15 ms, plain 30 vs 140 ms in that run): that index is
what makes slices flat (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from atlas4d.core.filters import ObservationFilter, TimeRange

FIRST_SLICE = timedelta(hours=1)
MARGIN = 1.25  # a next slice sized to the density seen so far, with a margin so one more slice usually fills
MICROSECOND = timedelta(microseconds=1)
LONGEST = timedelta(days=366 * 20_000)  # beyond any window (years 1..9999): no slice arithmetic overflows

# (the filter narrowed to one slice, the rows still wanted) -> (SQL, parameters) of the page's statement
SliceStatement = Callable[[ObservationFilter, int], tuple[str, list[Any]]]
Connection = asyncpg.Connection | PoolConnectionProxy
Database = Connection | asyncpg.Pool


def spatial(flt: ObservationFilter) -> bool:
    return flt.bbox is not None or flt.within is not None or flt.near is not None


@dataclass(frozen=True)
class PlainStatement:
    """A statement run as it is (the compiled entity pages)."""

    sql: str
    params: list[Any]

    async def fetch(self, db: Database) -> list[Any]:
        return list(await db.fetch(self.sql, *self.params))


@dataclass(frozen=True)
class PageStatement:
    """An observation page's statement: run plain, or in time slices when that reads less."""

    statement: SliceStatement
    flt: ObservationFilter
    limit: int
    descending: bool
    after_t: datetime | None = None  # the cursor's time: the page lies at or before it (after, ascending)
    sliced: bool = False  # Settings.time_slices

    def plain(self) -> tuple[str, list[Any]]:
        return self.statement(self.flt, self.limit)

    def window(self) -> tuple[datetime, datetime | None] | None:
        """The [start, end) to read in slices (end None: open), or None for the plain statement."""
        time = self.flt.time
        if not self.sliced or self.limit <= 0 or time is None or time.start is None or not spatial(self.flt):
            return None
        start, end = time.start, time.end
        if self.after_t is not None:
            if self.descending:
                end = self.after_t + MICROSECOND if end is None else min(end, self.after_t + MICROSECOND)
            else:
                start = max(start, self.after_t)
        if end is not None and (end - start <= FIRST_SLICE):
            return None
        return start, end

    async def fetch(self, db: Database) -> list[Any]:
        window = self.window()
        if window is None:
            sql, params = self.plain()
            return list(await db.fetch(sql, *params))
        if isinstance(db, asyncpg.Pool):
            async with db.acquire() as conn:
                return await self._in_snapshot(conn, window)
        return await self._in_snapshot(db, window)

    async def _in_snapshot(self, conn: Connection, window: tuple[datetime, datetime | None]) -> list[Any]:
        if conn.is_in_transaction():  # the caller's transaction is the snapshot
            return await self._slices(conn, window)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await self._slices(conn, window)

    async def _slices(self, conn: Connection, window: tuple[datetime, datetime | None]) -> list[Any]:
        rows: list[Any] = []
        for piece in slices(window, self.descending, lambda: len(rows), self.limit):
            sql, params = self.statement(replace(self.flt, time=piece), self.limit - len(rows))
            rows.extend(await conn.fetch(sql, *params))
            if len(rows) >= self.limit:
                break
        return rows


def slices(
    window: tuple[datetime, datetime | None], descending: bool, found: Callable[[], int], limit: int
) -> Iterator[TimeRange]:
    """The slices of `window` in reading order (newest first when `descending`); `found()` is how many rows
    the slices so far returned, which sizes the next one. The last slice reaches the window's far end (open
    when the window is); an open end is taken in one slice once the slices pass the present."""
    start, end = window
    now = datetime.now(UTC)
    # descending from an open end: the first slice is open above, starting an hour before now
    edge = (end if end is not None else max(now, start)) if descending else start
    width, covered = FIRST_SLICE, timedelta(0)
    top = end  # the upper bound of the next descending slice
    while True:
        if descending:
            last = edge - start <= width
            low = start if last else edge - width
            yield TimeRange(low, top)
            top = edge = low
        else:
            far = end if end is not None else max(now, edge)
            last = far - edge <= width
            high = end if last else edge + width
            yield TimeRange(edge, high)
            if high is not None:
                edge = high
        if last:
            return
        covered += width
        n = found()
        # at least as long as everything read so far, so a window takes log2(its length / 1 h) slices at most
        seconds = covered.total_seconds() * max(1.0, (limit - n) / n * MARGIN if n else 1.0)
        width = timedelta(seconds=min(seconds, LONGEST.total_seconds()))


__all__ = ["FIRST_SLICE", "PageStatement", "PlainStatement", "SliceStatement", "slices", "spatial"]
