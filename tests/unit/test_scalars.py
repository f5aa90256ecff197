"""The DateTime input parser: its fast path (`datetime.fromisoformat`) must read every string exactly as
Strawberry's own parser (dateutil's `isoparse`) does, and refuse what that refuses, with the same message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from dateutil.parser import isoparse
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.exceptions import StrawberryInputCoercionError

from atlas4d.core.schema.scalars import parse_datetime


def _reference(text: str) -> datetime | None:
    try:
        return isoparse(text)
    except ValueError:
        return None


offsets = st.sampled_from(["Z", "z", "+00:00", "-00:00", "+02:00", "-05:30", "+0530", "+01", "", "-00:00:30"])
separators = st.sampled_from(["T", "t", " "])
fractions = st.integers(0, 7).flatmap(
    lambda n: st.just("") if n == 0 else st.text("0123456789", min_size=n, max_size=n).map(lambda d: "." + d)
)


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    separators,
    fractions,
    offsets,
    st.booleans(),
)
def test_fast_parser_agrees_with_isoparse(
    moment: datetime, sep: str, fraction: str, offset: str, basic: bool
) -> None:
    date = moment.strftime("%Y%m%d" if basic else "%Y-%m-%d")
    time = moment.strftime("%H%M%S" if basic else "%H:%M:%S")
    text = f"{date}{sep}{time}{fraction}{offset}"
    expected = _reference(text)
    if expected is None:
        with pytest.raises(StrawberryInputCoercionError):
            parse_datetime(text)
        return
    got = parse_datetime(text)
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()
    assert (got.tzinfo is None) == (expected.tzinfo is None)


@pytest.mark.parametrize(
    "text",
    ["2026-001", "2026-01-01T24:00:00Z", "2026-01-01T10:00:00z", "2026-W01-1T10:00Z", "2026-01-01"],
)
def test_forms_only_isoparse_reads_are_still_read(text: str) -> None:
    assert parse_datetime(text) == isoparse(text)


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-1-1", " 2026-01-01", "2026-01-01T10:00:00-00:00:30", 5, None]
)
def test_refusals_keep_strawberrys_message(value: object) -> None:
    with pytest.raises(StrawberryInputCoercionError, match="Value cannot represent a DateTime"):
        parse_datetime(value)


def test_zone_is_kept() -> None:
    assert parse_datetime("2026-01-01T10:00:00Z").utcoffset() == timedelta(0)
    assert parse_datetime("2026-01-01T10:00:00+02:00") == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert parse_datetime("2026-01-01T10:00:00+02:00").tzinfo == timezone(timedelta(hours=2))
