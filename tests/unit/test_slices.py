"""The time slices of a page's window (atlas4d.core.slices): they cover the window exactly, in reading order,
without overlap, and end after a few slices whatever the window's length."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas4d.core.filters import EARLIEST, LATEST, Near, ObservationFilter, TimeRange
from atlas4d.core.slices import FIRST_SLICE, PageStatement, slices

T0 = datetime(2026, 10, 30, tzinfo=UTC)


def run(
    window: tuple[datetime, datetime | None], descending: bool, per_slice: list[int], limit: int
) -> list[TimeRange]:
    """The slices read until the page is full, `per_slice[i]` rows found in slice i (0 after the list)."""
    found = [0]
    out: list[TimeRange] = []
    for i, piece in enumerate(slices(window, descending, lambda: found[0], limit)):
        out.append(piece)
        found[0] += per_slice[i] if i < len(per_slice) else 0
        if found[0] >= limit:
            break
        assert len(out) < 100
    return out


def check_cover(pieces: list[TimeRange], window: tuple[datetime, datetime | None], descending: bool) -> None:
    """Adjacent half-open slices in reading order from the window's near end to its far end."""
    start, end = window
    ordered = list(reversed(pieces)) if descending else pieces
    assert ordered[0].start == start
    assert ordered[-1].end == end
    for a, b in itertools.pairwise(ordered):
        assert a.end == b.start
        assert a.start is not None and a.end is not None and a.start < a.end


@settings(max_examples=200, deadline=None)
@given(
    hours=st.floats(min_value=0.001, max_value=24 * 3650),
    descending=st.booleans(),
    per_slice=st.lists(st.integers(min_value=0, max_value=5_000), max_size=12),
    limit=st.integers(min_value=1, max_value=10_001),
)
def test_slices_cover_the_window_in_order(
    hours: float, descending: bool, per_slice: list[int], limit: int
) -> None:
    window = (T0, T0 + timedelta(hours=hours))
    pieces = run(window, descending, per_slice, 10**9)  # never full: every slice is read
    check_cover(pieces, window, descending)
    # each slice at least as long as all before it: log2(length / 1 h) + 2 slices at most
    assert len(pieces) <= math.ceil(math.log2(max(1.0, hours))) + 2
    # the first slice is the hour at the page's near end
    first = pieces[0]
    assert first.start is not None and first.end is not None
    assert first.end - first.start == min(FIRST_SLICE, window[1] - window[0])


def test_the_next_slice_is_sized_from_the_density_seen() -> None:
    window = (T0, T0 + timedelta(days=1))
    # 100 rows in the first hour, 1,000 wanted: the next slice is ~900/100 h x 1.25 ~ 11 h, then it is full
    pieces = run(window, True, [100, 900], 1000)
    assert len(pieces) == 2
    assert pieces[1].end == T0 + timedelta(hours=23)
    assert pieces[1].start == T0 + timedelta(hours=23) - timedelta(hours=1) * 9 * 1.25


def test_open_ends_and_extreme_windows_end() -> None:
    # a window from year 1 to year 9999, nothing found: a few dozen slices, no overflow
    pieces = run((EARLIEST, LATEST), True, [], 10)
    check_cover(pieces, (EARLIEST, LATEST), True)
    assert len(pieces) < 40
    pieces = run((EARLIEST, LATEST), False, [], 10)
    check_cover(pieces, (EARLIEST, LATEST), False)
    # open end, descending: the first slice is open above; ascending: the last one is
    pieces = run((T0, None), True, [], 10)
    assert pieces[0].end is None and pieces[-1].start == T0
    pieces = run((T0, None), False, [], 10)
    assert pieces[0].start == T0 and pieces[-1].end is None
    for a, b in itertools.pairwise(pieces):
        assert a.end == b.start
    # a window starting in the future, open above: one slice
    future = datetime.now(UTC) + timedelta(days=3)
    assert run((future, None), True, [], 10) == [TimeRange(future, None)]


def _statement(_flt: ObservationFilter, _rows: int) -> tuple[str, list[object]]:
    return "", []


@pytest.mark.parametrize(
    ("flt", "after_t", "descending", "window"),
    [
        # no spatial part: the (t, id) btree reads in order already
        (ObservationFilter(time=TimeRange(T0, T0 + timedelta(days=1))), None, True, None),
        # no start: plain
        (ObservationFilter(near=Near(27.0, 42.0, 10.0), time=TimeRange(None, T0)), None, True, None),
        # an hour or less: plain
        (
            ObservationFilter(near=Near(27.0, 42.0, 10.0), time=TimeRange(T0, T0 + FIRST_SLICE)),
            None,
            True,
            None,
        ),
        (
            ObservationFilter(near=Near(27.0, 42.0, 10.0), time=TimeRange(T0, T0 + timedelta(days=1))),
            None,
            True,
            (T0, T0 + timedelta(days=1)),
        ),
        # a cursor narrows the window: the page lies at or before its time (descending), at or after it
        (
            ObservationFilter(near=Near(27.0, 42.0, 10.0), time=TimeRange(T0, None)),
            T0 + timedelta(hours=5),
            True,
            (T0, T0 + timedelta(hours=5, microseconds=1)),
        ),
        (
            ObservationFilter(near=Near(27.0, 42.0, 10.0), time=TimeRange(T0, T0 + timedelta(days=1))),
            T0 + timedelta(hours=23, minutes=30),
            False,
            None,
        ),
    ],
)
def test_which_pages_are_sliced(
    flt: ObservationFilter, after_t: datetime | None, descending: bool, window: object
) -> None:
    assert PageStatement(_statement, flt, 100, descending, after_t, sliced=True).window() == window


def test_time_slices_off_sends_the_one_statement() -> None:
    flt = ObservationFilter(near=Near(27.0, 42.0, 10.0), time=TimeRange(T0, T0 + timedelta(days=1)))
    assert PageStatement(_statement, flt, 100, True, sliced=True).window() is not None
    assert (
        PageStatement(_statement, flt, 100, True).window() is None
    )  # Settings.time_slices is off by default
