"""Subscription filters agree with the query path: forty random subscriptions on one connection (bbox,
within, near, altitude, time, source types, kinds, and combinations: the oracle cases of
tests/api/test_filters_oracle.py), random rows written after subscribing, and each subscription's events
compared with `observations(filter:)` over the same rows — which that test checks against shapely and pyproj."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ws_client import connect

from api.test_filters_oracle import KINDS, SOURCE_TYPES, bboxes, burgas_lat, burgas_lon, polygons
from atlas4d.core.ingest import ObservationItem, ingest_observations
from live_server import MODERN_ACCEPT, in_process

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SUBSCRIPTIONS = 40
QUERY = "query($f: ObservationFilter) { observations(filter: $f, first: 10000) { nodes { id } } }"
LIVE = "subscription($f: ObservationFilter) { observationAdded(filter: $f) { id } }"


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    flt: dict[str, Any] = {}
    for name, strategy in (
        ("bbox", bboxes()),
        ("within", polygons().map(shapely.geometry.mapping)),
        ("near", st.builds(lambda x, y, r: {"lon": x, "lat": y, "radiusMeters": r}, burgas_lon, burgas_lat, st.floats(10, 80_000))),
        ("altitude", st.builds(lambda a, b: {"min": min(a, b), "max": max(a, b)}, st.floats(0, 3000), st.floats(0, 3000))),
        ("sourceTypes", st.lists(st.sampled_from(SOURCE_TYPES), min_size=1, unique=True)),
        ("kinds", st.lists(st.sampled_from(KINDS), min_size=1, unique=True)),
        ("time", st.integers(0, 23).map(lambda h: {"from": (T0 + timedelta(hours=h)).isoformat(), "to": (T0 + timedelta(hours=h + 3)).isoformat()})),
    ):  # fmt: skip
        if draw(st.integers(0, 3)) == 0:
            flt[name] = draw(strategy)
    return flt


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    # the test reads its events only after asking the query path: let them wait
    with in_process(database_url, stream_queue_size="100000") as base:
        yield base


def random_items(seed: int, n: int = 400) -> list[ObservationItem]:
    rng = random.Random(seed)
    entities = [(str(uuid.uuid4()), KINDS[i % 3]) for i in range(9)]
    items = []
    for i in range(n):
        if i % 10 == 0:
            lon, lat = rng.choice([rng.uniform(178, 180), rng.uniform(-180, -178)]), rng.uniform(-85, 85)
        else:
            lon, lat = rng.uniform(27.0, 28.0), rng.uniform(42.0, 43.0)
        ent, kind = entities[i % len(entities)]
        items.append(
            ObservationItem(
                time=T0 + timedelta(seconds=rng.randrange(0, 86_400)), lon=lon, lat=lat,
                altitude=None if i % 7 == 0 else rng.uniform(0, 3000), source_type=SOURCE_TYPES[i % 3],
                entity_id=ent, entity_kind=kind,
            )
        )  # fmt: skip
    return items


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
@given(
    chosen=st.lists(filters(), min_size=SUBSCRIPTIONS, max_size=SUBSCRIPTIONS), seed=st.integers(0, 10_000)
)
async def test_live_filters_agree_with_the_query_path(
    server: str, pool: asyncpg.Pool, chosen: list[dict[str, Any]], seed: int
) -> None:
    await pool.execute(
        "TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks RESTART IDENTITY"
    )
    async with connect(server) as client, httpx.AsyncClient(base_url=server, headers=MODERN_ACCEPT) as http:
        await client.init()
        ids = [await client.subscribe(LIVE, {"f": f}, wait=False) for f in chosen]
        await client.barrier()
        items = random_items(seed)
        await ingest_observations(pool, items, max_batch=10_000, copy_threshold=200)
        total = await pool.fetchval("SELECT count(*) FROM atlas4d.observations_core")
        assert total == len(items)
        expected: dict[str, set[int]] = {}
        for sub_id, flt in zip(ids, chosen, strict=True):
            r = await http.post("/graphql", json={"query": QUERY, "variables": {"f": flt}})
            assert r.status_code == 200 and "errors" not in r.json(), r.text
            expected[sub_id] = {int(n["id"]) for n in r.json()["data"]["observations"]["nodes"]}
        got: dict[str, list[int]] = {sub_id: [] for sub_id in ids}
        want, count = sum(len(v) for v in expected.values()), 0
        while True:  # until every expected event is in, then until nothing more comes for a second
            try:
                message = await client.recv(1 if count >= want else 30)
            except TimeoutError:
                break
            assert message["type"] == "next", message
            got[message["id"]].append(int(message["payload"]["data"]["observationAdded"]["id"]))
            count += 1
    rows = {r["id"]: r for r in await pool.fetch("SELECT id, lon, lat FROM atlas4d.observations_core")}
    for sub_id, flt in zip(ids, chosen, strict=True):
        assert got[sub_id] == sorted(got[sub_id]), "rows of one statement arrive in id order"
        live, query = set(got[sub_id]), expected[sub_id]
        if live == query:
            continue
        # only `within` may differ, for points within a micro-degree of the polygon's boundary (shapely and
        # PostGIS are two floating-point codes)
        assert "within" in flt, (flt, sorted(live ^ query)[:10])
        boundary = shapely.geometry.shape(flt["within"]).boundary
        for oid in live ^ query:
            assert boundary.distance(shapely.Point(rows[oid]["lon"], rows[oid]["lat"])) < 1e-9, (flt, oid)
