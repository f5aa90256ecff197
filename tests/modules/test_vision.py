"""Vision module on a real PostGIS: migrations, seed, every root field, nested fields batched, typed
errors, composition. The coverage and linking oracles are in test_vision_oracle.py."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import shapely
from module_helpers import migrate_module, serve_modules, subgraph_data

from atlas4d.core.schema import build_core_schema
from atlas4d.db.migrate import load_migrations, migrate
from atlas4d.db.pool import log_statements
from atlas4d.modules.airspace import module as airspace_module
from atlas4d.modules.vision import module
from atlas4d.modules.vision.scenario import PASSES, PEOPLE_PER_CAMERA, build_scenario
from atlas4d.modules.vision.seed import seed
from atlas4d.settings import Settings

END = datetime(2026, 5, 2, tzinfo=UTC)
URL = "/subgraphs/vision/graphql"
JS_DIR = Path(__file__).resolve().parents[1] / "js"
DETECTION = "id cameraId time class confidence box { x y width height } lon lat trackId entityId linkDistance"


@pytest.fixture(scope="session")
async def vision(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve_modules(settings, database_url, [module]):
        yield client


@pytest.fixture
async def empty(clean_db: asyncpg.Pool) -> asyncpg.Pool:
    await migrate_module(clean_db, module)
    await clean_db.execute("TRUNCATE atlas4d_vision.detections, atlas4d_vision.cameras")
    return clean_db


@pytest.fixture
async def seeded(empty: asyncpg.Pool) -> dict[str, int]:
    async with empty.acquire() as conn:
        return (await seed(conn, 5, end=END)).rows


async def gql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    data: dict[str, Any] = await subgraph_data(client, "vision", query, variables)
    return data


async def all_detections(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, camera_id, t, class, confidence, ST_X(geom) AS lon, ST_Y(geom) AS lat, track_id, entity_id "
        "FROM atlas4d_vision.detections ORDER BY t DESC, id"
    )


# --- migrations and seed ---------------------------------------------------------------------------


async def test_migrations_apply_once_and_only_touch_their_schema(pool: asyncpg.Pool) -> None:
    migrations = load_migrations("vision", module.migrations)  # type: ignore[arg-type]
    async with pool.acquire() as conn:
        await migrate(conn, migrations)
        assert await migrate(conn, migrations) == []
        async with conn.transaction():  # the files themselves can run again (IF NOT EXISTS, OR REPLACE)
            for m in migrations:
                await conn.execute(m.sql)
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'atlas4d_vision'"
    )
    assert {r["table_name"] for r in tables} == {"cameras", "detections"}
    assert all("ALTER TABLE atlas4d." not in m.sql for m in migrations)


def test_scenario_is_deterministic() -> None:
    a, b = build_scenario(5, END), build_scenario(5, END)
    assert a == b and build_scenario(6, END).fixes != a.fixes
    assert len(a.cameras) == 6 and all(
        END - timedelta(hours=24) <= f.t < END + timedelta(hours=1) for f in a.fixes
    )


async def snapshot(pool: asyncpg.Pool) -> list[Any]:
    return [
        await pool.fetch("SELECT entity_id, name, ST_AsText(geom), heading_deg, fov_deg, range_m, ST_AsText(coverage) "
                         "FROM atlas4d_vision.cameras ORDER BY entity_id"),
        await pool.fetch("SELECT id, camera_id, t, class, confidence, box_x, box_y, box_w, box_h, ST_AsText(geom), "
                         "track_id, entity_id, link_distance_m FROM atlas4d_vision.detections ORDER BY id"),
    ]  # fmt: skip


async def test_seed_stands_alone_and_is_deterministic_and_idempotent(empty: asyncpg.Pool) -> None:
    async with empty.acquire() as conn:
        first = await seed(conn, 5, end=END)
        before = await snapshot(empty)
        assert (await seed(conn, 5, end=END)) == first
    assert await snapshot(empty) == before
    rows = first.rows
    assert rows["cameras"] == 6 and rows["tracks"] == 6 * PASSES
    people = 6 * PEOPLE_PER_CAMERA
    assert rows["detections"] > people + 6 * PASSES  # every pass is seen at least once
    # every vehicle detection of the stand-alone scenario links back to the vehicle that made it
    assert rows["linked_detections"] == rows["detections"] - people
    assert (
        await empty.fetchval(
            "SELECT count(*) FROM atlas4d_vision.detections WHERE class = 'person' AND track_id IS NOT NULL"
        )
        == 0
    )


async def test_seed_on_top_of_the_core_demo_detects_its_vehicles(empty: asyncpg.Pool) -> None:
    from atlas4d.demo import load_burgas

    async with empty.acquire() as conn:
        await load_burgas(conn, seed=42, end=END)
        rows = (await seed(conn, 5, end=END)).rows
        before = await snapshot(empty)
        await load_burgas(conn, seed=42, end=END)  # reloading the core demo keeps cameras and detections
    assert await snapshot(empty) == before
    demo = await empty.fetch(
        "SELECT d.class, e.properties->>'vehicle_class' AS vclass FROM atlas4d_vision.detections d "
        'JOIN atlas4d.entities e ON e.id = d.entity_id WHERE e.properties @> \'{"scenario": "burgas"}\''
    )
    assert len(demo) > 20 and rows["detections"] > len(demo)
    mapping = {"car": "car", "taxi": "car", "bus": "bus", "truck": "truck", "delivery_van": "van"}
    # a detection may link to another vehicle passing within the radius, but nearly all link to their own
    assert sum(mapping[r["vclass"]] == r["class"] for r in demo) >= 0.9 * len(demo)


# --- root fields -----------------------------------------------------------------------------------


async def test_cameras_by_bbox_with_coverage(seeded: dict[str, int], vision: httpx.AsyncClient) -> None:
    q = "query($b: BBoxInput, $n: Int) { cameras(bbox: $b, first: $n) { entityId name lon lat heading fieldOfView range coverage entity { id } } }"
    cams = (await gql(vision, q))["cameras"]
    assert [c["name"] for c in cams] == sorted(c["name"] for c in cams) and len(cams) == 6
    for c in cams:
        sector = shapely.geometry.shape(c["coverage"])
        assert c["coverage"]["type"] == "Polygon" and sector.is_valid
        assert sector.boundary.distance(shapely.Point(c["lon"], c["lat"])) < 1e-9  # the apex is the camera
        assert c["entity"]["id"] == c["entityId"]
    port = {"minLon": 27.47, "minLat": 42.485, "maxLon": 27.48, "maxLat": 42.495}
    assert [c["name"] for c in (await gql(vision, q, b=port))["cameras"]] == ["CAM-05 Port gate"]
    assert len((await gql(vision, q, n=2))["cameras"]) == 2


async def test_detections_filters(
    seeded: dict[str, int], pool: asyncpg.Pool, vision: httpx.AsyncClient
) -> None:
    rows = await all_detections(pool)
    q = f"query($f: DetectionFilter, $n: Int) {{ detections(filter: $f, first: $n) {{ {DETECTION} }} }}"
    ids = lambda data: [d["id"] for d in data["detections"]]  # noqa: E731
    expect = lambda pred: [str(r["id"]) for r in rows if pred(r)]  # noqa: E731
    assert ids(await gql(vision, q, n=10000)) == expect(lambda r: True)
    assert len(ids(await gql(vision, q))) == 100  # the default page
    start, end = END - timedelta(hours=12), END - timedelta(hours=6)
    window = {"from": start.isoformat(), "to": end.isoformat()}
    assert ids(await gql(vision, q, f={"time": window}, n=10000)) == expect(lambda r: start <= r["t"] < end)
    assert ids(await gql(vision, q, f={"classes": ["person", "bus"]}, n=10000)) == expect(
        lambda r: r["class"] in ("person", "bus")
    )
    assert ids(await gql(vision, q, f={"minConfidence": 0.8}, n=10000)) == expect(
        lambda r: r["confidence"] >= 0.8
    )
    cam = rows[0]["camera_id"]
    assert ids(await gql(vision, q, f={"cameraIds": [str(cam)]}, n=10000)) == expect(
        lambda r: r["camera_id"] == cam
    )
    box = (27.465, 42.49, 27.475, 42.50)
    inside = lambda r: box[0] <= r["lon"] <= box[2] and box[1] <= r["lat"] <= box[3]  # noqa: E731
    got = ids(
        await gql(
            vision,
            q,
            f={"bbox": dict(zip(("minLon", "minLat", "maxLon", "maxLat"), box, strict=True))},
            n=10000,
        )
    )
    assert got and got == expect(inside)
    linked = next(r for r in rows if r["track_id"])
    assert ids(await gql(vision, q, f={"trackIds": [str(linked["track_id"])]}, n=10000)) == expect(
        lambda r: r["track_id"] == linked["track_id"]
    )
    assert ids(
        await gql(
            vision,
            q,
            f={
                "entityIds": [str(linked["entity_id"])],
                "classes": ["car", "van", "bus", "truck"],
                "minConfidence": 0.5,
                "time": window,
            },
            n=10000,
        )
    ) == expect(
        lambda r: r["entity_id"] == linked["entity_id"] and r["confidence"] >= 0.5 and start <= r["t"] < end
    )


async def test_nested_fields_are_batched_over_50_representations(
    seeded: dict[str, int], pool: asyncpg.Pool, vision: httpx.AsyncClient
) -> None:
    rows = await all_detections(pool)
    cameras = [str(r["entity_id"]) for r in await pool.fetch("SELECT entity_id FROM atlas4d_vision.cameras")]
    vehicles = sorted({str(r["entity_id"]) for r in rows if r["entity_id"]})
    keys = (cameras + vehicles + [str(uuid.uuid4()) for _ in range(50)])[:50]
    q = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id
             camera { name coverage detections(first: 3) { id camera { entityId } track { id } } }
             detections(classes: ["car", "bus", "truck", "van"], minConfidence: 0.3) { id entityId class camera { name } } } } }"""
    with log_statements() as log:
        data = await gql(vision, q, r=[{"__typename": "Entity", "id": k} for k in keys])
    # camera and Entity.detections; Camera.detections and the cameras of Entity.detections; their cameras
    assert len(log) == 3, log.statements
    out = {e["id"]: e for e in data["_entities"]}
    assert len(out) == 50
    for cam in cameras:
        assert out[cam]["camera"] is not None and out[cam]["detections"] == []
        assert all(d["camera"]["entityId"] == cam for d in out[cam]["camera"]["detections"])
    for v in vehicles:
        assert out[v]["camera"] is None
        assert [d["id"] for d in out[v]["detections"]] == [
            str(r["id"]) for r in rows if str(r["entity_id"]) == v
        ]
    tracks = sorted({str(r["track_id"]) for r in rows if r["track_id"]})[:50]
    q = f"query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on Track {{ id detections {{ {DETECTION} track {{ id }} entity {{ id }} }} }} }} }}"
    with log_statements() as log:
        data = await gql(vision, q, r=[{"__typename": "Track", "id": t} for t in tracks])
    assert len(log) == 1, log.statements
    for e in data["_entities"]:
        assert e["detections"] and all(d["track"]["id"] == e["id"] == d["trackId"] for d in e["detections"])


# --- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ detections(filter: {minConfidence: 1.5}) { id } }", "BAD_USER_INPUT"),
        ("{ detections(filter: {minConfidence: -0.1}) { id } }", "BAD_USER_INPUT"),
        ('{ detections(filter: {classes: [""]}) { id } }', "BAD_USER_INPUT"),
        ('{ detections(filter: {cameraIds: ["cam-1"]}) { id } }', "BAD_USER_INPUT"),
        ('{ detections(filter: {trackIds: ["x"]}) { id } }', "BAD_USER_INPUT"),
        (
            "{ detections(filter: {bbox: {minLon: 27, minLat: 43, maxLon: 28, maxLat: 42}}) { id } }",
            "BAD_BBOX",
        ),
        (
            '{ detections(filter: {time: {from: "2026-05-02T00:00:00Z", to: "2026-05-01T00:00:00Z"}}) { id } }',
            "BAD_TIME_RANGE",
        ),
        ('{ detections(filter: {time: {to: "2026-05-02T00:00:00"}}) { id } }', "BAD_TIME_RANGE"),
        ("{ detections(first: 20000) { id } }", "PAGE_TOO_LARGE"),
        ("{ cameras(bbox: {minLon: -200, minLat: 42, maxLon: 28, maxLat: 43}) { name } }", "BAD_BBOX"),
        ("{ cameras(first: -5) { name } }", "BAD_USER_INPUT"),
    ],
)
async def test_bad_input_gives_typed_codes(
    empty: asyncpg.Pool, vision: httpx.AsyncClient, query: str, code: str
) -> None:
    body = (await vision.post(URL, json={"query": query})).json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code, body


async def test_bad_nested_arguments_give_typed_codes(
    seeded: dict[str, int], vision: httpx.AsyncClient
) -> None:
    q = "{ cameras { detections(minConfidence: 2) { id } } }"
    body = (await vision.post(URL, json={"query": q})).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- composition ---------------------------------------------------------------------------------------


@pytest.mark.npm
def test_composes_with_core_and_airspace_under_apollo_composition() -> None:
    core = {"name": "core", "url": "http://core/graphql", "sdl": build_core_schema().as_str()}
    vision_sdl = {"name": "vision", "url": "http://vision/graphql", "sdl": module.subgraph().as_str()}
    airspace = {
        "name": "airspace",
        "url": "http://airspace/graphql",
        "sdl": airspace_module.subgraph().as_str(),
    }
    for services in ([core, vision_sdl], [core, vision_sdl, airspace]):
        done = subprocess.run(["node", str(JS_DIR / "compose.js")], input=json.dumps(services), capture_output=True,
                              text=True, cwd=JS_DIR, timeout=120, check=True)  # fmt: skip
        result = json.loads(done.stdout)
        assert "errors" not in result, result
        assert "camera: Camera @join__field(graph: VISION)" in result["supergraphSdl"]


def test_doc_examples_validate_against_the_supergraph() -> None:
    from graphql import parse, validate

    from atlas4d.federation.compose import SubgraphSource, compose
    from atlas4d.federation.supergraph import Supergraph

    sdl = compose(
        [
            SubgraphSource("core", "http://core/graphql", build_core_schema().as_str()),
            SubgraphSource("vision", "http://vision/graphql", module.subgraph().as_str()),
        ]
    )
    api = Supergraph.parse(sdl).api_schema
    doc = (Path(__file__).resolve().parents[2] / "docs" / "modules" / "vision.md").read_text(encoding="utf-8")
    examples = re.findall(r"```graphql\n(.*?)```", doc, re.S)
    assert len(examples) >= 3
    for example in examples:
        assert validate(api, parse(example)) == [], example
