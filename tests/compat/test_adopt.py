"""`atlas4d db adopt` on a Core Spec database with the original's kind of rows, run as the real command:
entities and tracks inferred from `track_id`, `entity_id` and the original's `metadata.name`/`metadata.node`
(the 530 seed-like `track_id`s → 530 tracks, 529 entities: 28 named network nodes, the central OLT's traffic
metrics joining their node, 501 one-track entities), the original's rows, columns, constraints and indexes
untouched (fingerprints before/after), a second run writing nothing, and the GraphQL `entities`/`tracks`
fields (and every other root field) answering from them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from compat_db import OriginalDatabase
from seed_like import OLTS, TRAFFIC_TRACK
from test_graphql_roots import root_queries

from atlas4d.app import create_app
from atlas4d.db.adopt import adopted_entity_id
from atlas4d.settings import Settings

BIN = Path(sys.executable).parent
CENTRAL = adopted_entity_id(f"name:{OLTS[0][0]}")


def atlas4d(db: OriginalDatabase, *args: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS4D_")}
    env["ATLAS4D_DATABASE_URL"] = db.url
    done = subprocess.run(
        [str(BIN / "atlas4d"), "db", *args, "--json"], env=env, capture_output=True, timeout=180
    )
    assert done.stdout, done.stderr
    out: dict[str, Any] = orjson.loads(done.stdout)
    return done.returncode, out


async def ours(db: OriginalDatabase) -> str:
    """Fingerprint of what adoption writes (entities and tracks, every column)."""
    conn = await asyncpg.connect(db.url)
    try:
        return str(
            await conn.fetchval(
                "SELECT (SELECT md5(string_agg(e::text, '|' ORDER BY e.id)) FROM atlas4d.entities e) || "
                "(SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM atlas4d.tracks t)"
            )
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def adoption(adopted_db: OriginalDatabase) -> dict[str, Any]:
    """`db check` before, `db adopt` once, `db check` after."""
    _, before = atlas4d(adopted_db, "check")
    status, report = atlas4d(adopted_db, "adopt")
    assert status == 0, report
    _, after = atlas4d(adopted_db, "check")
    return {"check_before": before, "report": report, "check_after": after}


def expected(db: OriginalDatabase) -> tuple[set[uuid.UUID], dict[str, int]]:
    tracks = {o.track_id for o in db.data.observations if o.track_id is not None and o.position is not None}
    named = {str(o.metadata["name"]) for o in db.data.observations if o.metadata and "name" in o.metadata}
    own = {
        o.track_id
        for o in db.data.observations
        if o.track_id and not (o.metadata or {}).keys() & {"name", "node"}
    }
    return tracks, {"metadata.name": len(named), "track_id": len(own)}


async def test_adopt_infers_entities_and_tracks_and_leaves_the_original_as_it_was(
    adopted_db: OriginalDatabase, adoption: dict[str, Any]
) -> None:
    tracks, by_rule = expected(adopted_db)
    assert len(tracks) == 530 and by_rule == {"metadata.name": 28, "track_id": 501}
    assert adoption["check_before"]["counts"]["tracks_missing"] == 530
    report = adoption["report"]
    assert report["entities_by_rule"] == by_rule
    assert report["entities_created"] == report["entities_total"] == 529
    assert report["tracks_refreshed"] == report["tracks_linked"] == report["tracks_total"] == 530
    assert adoption["check_after"]["counts"]["tracks_missing"] == 0
    assert await adopted_db.state() == adopted_db.before  # rows, columns, constraints, indexes


async def test_adopt_again_writes_nothing(adopted_db: OriginalDatabase, adoption: dict[str, Any]) -> None:
    fingerprint = await ours(adopted_db)
    status, report = atlas4d(adopted_db, "adopt")
    assert status == 0
    assert report["entities_created"] == report["tracks_refreshed"] == report["tracks_linked"] == 0
    assert report["entities_by_rule"] == {}
    assert (report["entities_total"], report["tracks_total"]) == (529, 530)
    assert await ours(adopted_db) == fingerprint
    assert await adopted_db.state() == adopted_db.before


@pytest.fixture(scope="module")
async def adopted(
    settings: Settings, adopted_db: OriginalDatabase, adoption: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings, dsn=adopted_db.url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_entities_and_tracks_served_after_adoption(
    adopted: httpx.AsyncClient, adopted_db: OriginalDatabase
) -> None:
    data = await graphql(
        adopted,
        """query($olt: ID!, $traffic: ID!) {
          entities(first: 1) { totalCount }
          tracks(first: 1) { totalCount }
          olts: entities(filter: {kinds: ["olt"]}, first: 10) { nodes { name properties } }
          entity(id: $olt) { kind name sourceType tracks { id pointCount } }
          track(id: $traffic) { pointCount sourceType entity { id name kind } }
        }""",
        olt=str(CENTRAL), traffic=str(TRAFFIC_TRACK),
    )  # fmt: skip
    assert data["entities"]["totalCount"] == 529
    assert data["tracks"]["totalCount"] == 530
    assert sorted(n["name"] for n in data["olts"]["nodes"]) == sorted(o[0] for o in OLTS)
    central = next(n for n in data["olts"]["nodes"] if n["name"] == OLTS[0][0])
    assert central["properties"]["capacity_gbps"] == OLTS[0][3]
    assert central["properties"]["adopted"] == {"rule": "metadata.name", "key": OLTS[0][0]}
    assert data["entity"]["kind"] == "olt"
    # its own observation's track and the 50 traffic metrics that name it
    assert sorted(t["pointCount"] for t in data["entity"]["tracks"]) == [1, 50]
    assert data["track"] == {
        "pointCount": 50, "sourceType": "traffic_metric",
        "entity": {"id": str(CENTRAL), "name": OLTS[0][0], "kind": "olt"},
    }  # fmt: skip


async def test_lat_lon_only_tracks_are_placed_by_the_rule(
    adopted: httpx.AsyncClient, adopted_db: OriginalDatabase
) -> None:
    burgas = [o for o in adopted_db.data.observations if o.geom is None and o.position and o.track_id]
    assert len(burgas) == 500
    sample = burgas[:5]
    data = await graphql(
        adopted,
        """query($ids: [ID!]) { tracks(filter: {ids: $ids}, first: 10) {
             nodes { id pointCount lengthMeters geometry entity { kind properties } observations { lon lat } } } }""",
        ids=[str(o.track_id) for o in sample],
    )
    by_id = {n["id"]: n for n in data["tracks"]["nodes"]}
    for o in sample:
        node = by_id[str(o.track_id)]
        assert node["pointCount"] == 1 and node["lengthMeters"] == 0
        assert node["geometry"]["type"] == "Point"  # GeoJSON is written to 7 decimals (~1 cm)
        assert node["geometry"]["coordinates"] == pytest.approx([o.lon, o.lat], abs=1e-7)
        assert node["observations"] == [{"lon": o.lon, "lat": o.lat}]
        assert node["entity"]["kind"] == o.source_type
        assert node["entity"]["properties"] == {
            **(o.metadata or {}),
            "adopted": {"rule": "track_id", "key": str(o.track_id)},
        }
    # spatial filters on tracks find them where their observation is
    lon0, lat0 = 27.44, 42.48
    data = await graphql(
        adopted,
        'query($b: BBoxInput!) { tracks(filter: {bbox: $b, sourceTypes: ["vehicle", "sensor", "camera"]}, '
        "first: 1) { totalCount } }",
        b={"minLon": lon0, "minLat": lat0, "maxLon": lon0 + 0.05, "maxLat": lat0 + 0.03},
    )
    inside = [o for o in burgas if lon0 <= o.lon <= lon0 + 0.05 and lat0 <= o.lat <= lat0 + 0.03]  # type: ignore[operator]
    assert inside and data["tracks"]["totalCount"] == len(inside)


async def test_every_root_query_field_answers_after_adoption(adopted: httpx.AsyncClient) -> None:
    queries = await root_queries(
        adopted, {"observation": "1", "track": str(TRAFFIC_TRACK), "entity": str(CENTRAL)}
    )
    failures = {}
    for name, query in queries.items():
        body = (await adopted.post("/graphql", json={"query": query})).json()
        if body.get("errors") or body.get("data") is None:
            failures[name] = (query, body.get("errors"))
    assert not failures, failures


async def test_new_points_after_adoption_keep_the_entity(
    adopted_db: OriginalDatabase, adoption: dict[str, Any]
) -> None:
    """The original's writers keep writing lat/lon-only rows on an adopted database: a refresh (ours, or
    adopting again) extends the track by the rule and keeps the entity adoption linked it to. Runs last in
    this file: it adds a row (removed after)."""
    conn = await asyncpg.connect(adopted_db.url)
    try:
        last = max(o.t for o in adopted_db.data.observations if o.track_id == TRAFFIC_TRACK)
        await conn.execute(
            "INSERT INTO atlas4d.observations_core (t, lat, lon, source_type, track_id, metadata) "
            "VALUES ($1, 42.51, 27.47, 'traffic_metric', $2, $3::text::jsonb)",
            last + timedelta(seconds=1), TRAFFIC_TRACK, '{"node": "OLT-Burgas-Central"}',
        )  # fmt: skip
        # a new track none of whose rows has a position: no line, so no track and no entity
        await conn.execute(
            "INSERT INTO atlas4d.observations_core (t, lat, source_type, track_id) VALUES ($1, 42.5, 'manual', $2)",
            last, uuid.uuid4(),
        )  # fmt: skip
        status, report = atlas4d(adopted_db, "adopt")
        assert status == 0
        assert (report["entities_created"], report["tracks_refreshed"], report["tracks_linked"]) == (0, 1, 0)
        row = await conn.fetchrow(
            "SELECT point_count, entity_id, ST_AsText(ST_PointN(geom, -1)) AS last FROM atlas4d.tracks WHERE id = $1",
            TRAFFIC_TRACK,
        )
        assert row is not None and dict(row) == {
            "point_count": 51,
            "entity_id": CENTRAL,
            "last": "POINT(27.47 42.51)",
        }
        # a full refresh of every track (what repairs run) unlinks nothing
        await conn.execute("SELECT atlas4d.refresh_tracks(array_agg(id)) FROM atlas4d.tracks")
        assert await conn.fetchval("SELECT count(*) FROM atlas4d.tracks WHERE entity_id IS NULL") == 0
    finally:
        await adopted_db.forget_test_rows()
        await conn.execute("SELECT atlas4d.refresh_tracks($1::uuid[])", [TRAFFIC_TRACK])
        await conn.close()
    assert await adopted_db.state() == adopted_db.before


async def test_link_observations_fills_only_empty_entity_ids(
    settings: Settings, adopted_db: OriginalDatabase, adoption: dict[str, Any]
) -> None:
    """`--link-observations` writes each adopted track's entity into its observations' empty `entity_id` (and
    nothing else), so the entity's own observation fields find them; a second run links nothing. Runs last in
    this file: it changes the original's rows (undone after)."""
    tracks, _ = expected(adopted_db)
    loose = [o for o in adopted_db.data.observations if o.track_id in tracks]  # the seed sets no entity_id
    assert all(o.id for o in loose)
    status, report = atlas4d(adopted_db, "adopt", "--link-observations")
    assert status == 0
    assert (report["entities_created"], report["tracks_linked"]) == (0, 0)
    assert report["observations_linked"] == len(loose) > 0
    conn = await asyncpg.connect(adopted_db.url)
    try:
        missing = (
            "SELECT count(*) FROM atlas4d.observations_core WHERE track_id IS NOT NULL AND entity_id IS NULL"
        )
        placed = {str(t) for t in tracks}
        rows = await conn.fetch(
            "SELECT DISTINCT track_id FROM atlas4d.observations_core WHERE entity_id IS NULL"
        )
        assert not {str(r["track_id"]) for r in rows} & placed  # every placed track's rows now name an entity
        before_again = await conn.fetchval(missing)
        status, again = atlas4d(adopted_db, "adopt", "--link-observations")
        assert (status, again["observations_linked"]) == (0, 0)
        assert await conn.fetchval(missing) == before_again
        application = create_app(settings, dsn=adopted_db.url)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                data = await graphql(
                    client,
                    """query($olt: ID!) { entity(id: $olt) {
                         latestObservation { entity { id } }
                         observations(first: 100) { id } } }""",
                    olt=str(CENTRAL),
                )
        # the OLT's own observation and the 50 traffic metrics that name it
        assert len(data["entity"]["observations"]) == 51
        assert data["entity"]["latestObservation"]["entity"]["id"] == str(CENTRAL)
    finally:
        ids = [o.id for o in loose]
        await conn.execute(
            "UPDATE atlas4d.observations_core SET entity_id = NULL WHERE id = ANY($1::bigint[])", ids
        )
        await conn.close()
    assert await adopted_db.state() == adopted_db.before  # only entity_id had changed
