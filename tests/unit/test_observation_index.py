"""The live path's spatial index (one STRtree over every subscription's area, queried with a whole batch) agrees
with testing each subscription on each row one by one: shapely as the oracle for bbox (two boxes across the
antimeridian) and within, plain comparisons with SQL's null rules for the rest; points on box edges and corners,
rows without a position, and subscriptions leaving between batches included. (`near` is decided by PostGIS and
checked end to end in tests/streaming/test_filters_live.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.test_filters_oracle import SOURCE_TYPES, bboxes, polygons
from atlas4d.core.filters import BBox, NumberRange, ObservationFilter
from atlas4d.streaming.matching import ObservationIndex, ObservationSpec

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@st.composite
def specs(draw: st.DrawFn) -> ObservationSpec:
    box = draw(st.none() | bboxes())
    within = draw(st.none() | polygons()) if box is None or draw(st.booleans()) else None
    altitude = None
    if draw(st.integers(0, 3)) == 0:
        a, b = sorted([draw(st.floats(0, 3000)), draw(st.floats(0, 3000))])
        altitude = NumberRange(min=a, max=b)
    source_types = draw(st.none() | st.lists(st.sampled_from(SOURCE_TYPES), min_size=1, unique=True))
    flt = ObservationFilter(
        bbox=BBox(box["minLon"], box["minLat"], box["maxLon"], box["maxLat"]) if box else None,
        within=within,
        altitude=altitude,
        source_types=source_types,
    )
    return ObservationSpec(flt)


def corners(spec: ObservationSpec) -> list[tuple[float, float]]:
    b = spec.filter.bbox
    if b is None:
        return []
    return [(x, y) for x in (b.min_lon, b.max_lon) for y in (b.min_lat, b.max_lat)]


@st.composite
def batches(draw: st.DrawFn, subscriptions: list[ObservationSpec]) -> list[dict[str, Any]]:
    edges = [c for s in subscriptions for c in corners(s)]
    rows = []
    for _ in range(draw(st.integers(1, 40))):
        how = draw(st.integers(0, 9))
        if how == 0:
            lon, lat = None, None  # no position: no spatial filter matches it
        elif how <= 2 and edges:
            lon, lat = draw(st.sampled_from(edges))  # exactly on a box's corner
        elif how <= 5:
            lon, lat = draw(st.floats(27.0, 28.0)), draw(st.floats(42.0, 43.0))  # where the polygons are
        else:
            lon, lat = draw(st.floats(-180, 180)), draw(st.floats(-90, 90))
        rows.append(
            {
                "lon": lon,
                "lat": lat,
                "altitude_m": draw(st.none() | st.floats(0, 3000)),
                "t": NOW,
                "source_type": draw(st.none() | st.sampled_from(SOURCE_TYPES)),
                "entity_id": None,
                "track_id": None,
                "kind": None,
            }
        )
    return rows


def oracle(spec: ObservationSpec, row: dict[str, Any]) -> bool:
    f = spec.filter
    placed = row["lon"] is not None and row["lat"] is not None
    if f.bbox is not None or f.within is not None:
        if not placed:
            return False
        point = shapely.Point(row["lon"], row["lat"])
        if f.bbox is not None and not any(shapely.box(*e).intersects(point) for e in f.bbox.envelopes()):
            return False
        if f.within is not None and not f.within.intersects(point):
            return False
    if f.altitude is not None:
        alt = row["altitude_m"]
        if alt is None:
            return False
        if (f.altitude.min is not None and alt < f.altitude.min) or (
            f.altitude.max is not None and alt > f.altitude.max
        ):
            return False
    return f.source_types is None or row["source_type"] in f.source_types


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_the_index_agrees_with_each_filter_tested_alone(data: st.DataObject) -> None:
    subscriptions = data.draw(st.lists(specs(), min_size=1, max_size=12))
    owners = [object() for _ in subscriptions]
    index = ObservationIndex()
    for owner, spec in zip(owners, subscriptions, strict=True):
        index.add(owner, spec)
    live = dict(zip(owners, subscriptions, strict=True))
    for _ in range(2):
        rows = data.draw(batches(subscriptions))
        got = asyncio.run(index.match(rows, NOW, None))
        expected = {
            owner: [i for i, row in enumerate(rows) if oracle(spec, row)] for owner, spec in live.items()
        }
        assert got == {owner: hits for owner, hits in expected.items() if hits}
        leaving = data.draw(st.sets(st.sampled_from(owners)))  # some leave before the next batch
        for owner in leaving:
            index.discard(owner)
            live.pop(owner, None)
