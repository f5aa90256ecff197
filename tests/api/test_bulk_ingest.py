"""`POST /ingest/observations` on real PostGIS: NDJSON and CSV streamed in one transaction, per-line errors
with nothing stored, the same rows as the GraphQL mutation, body limits."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from atlas4d import bulk
from atlas4d.bulk.http import ingest_endpoint
from atlas4d.bulk.parse import FIELDS
from atlas4d.rest.errors import rest_endpoint

BASE = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
NDJSON = {"Content-Type": "application/x-ndjson"}
ROW_SQL = (
    "SELECT t, ST_AsEWKT(geom) AS geom, source_type, track_id, entity_id, lat, lon, altitude_m, speed_ms, "
    "heading_deg, metadata FROM atlas4d.observations_core ORDER BY t, lon, lat"
)
INGEST = (
    "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) "
    "{ accepted entitiesCreated tracksUpdated } }"
)


@pytest.fixture
async def bulk_client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """Our routes on a small app of their own; `/chunked/...` cuts chunks every 100 lines, `/small/...` takes
    at most 4 KiB."""
    chunked = rest_endpoint(ingest_endpoint(None, chunk_lines=100))
    small = rest_endpoint(ingest_endpoint(4096))
    app = Starlette(
        routes=[
            *bulk.routes(),
            Route("/chunked/ingest/observations", chunked, methods=["POST"]),
            Route("/small/ingest/observations", small, methods=["POST"]),
        ]
    )
    app.state.pool = pool
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def item(i: int, entity: uuid.UUID, track: uuid.UUID | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time": (BASE + timedelta(seconds=30 * i)).isoformat(),
        "lon": round(27.40 + 0.00001 * i, 6),
        "lat": round(42.50 + 0.000007 * i, 6),
        "speed": float(i % 40),
        "heading": float(i % 360),
        "sourceType": "gps",
        "entityId": str(entity),
    }
    if track is not None:
        out["trackId"] = str(track)
    return {**out, **extra}


def ndjson(items: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(i) + b"\n" for i in items)


def as_csv(items: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for it in items:
        row = []
        for name in FIELDS:
            value = it.get(name)
            row.append(
                "" if value is None else orjson.dumps(value).decode() if name == "metadata" else str(value)
            )
        writer.writerow(row)
    return out.getvalue().encode()


async def rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await pool.fetch(ROW_SQL)]


async def count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM atlas4d.observations_core"))


async def test_ndjson_round_trip_with_entities_and_tracks(
    clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient
) -> None:
    entity, track = uuid.uuid4(), uuid.uuid4()
    items = [item(i, entity, track) for i in range(5)]
    items[0].update(altitude=12.5, entityKind="vehicle", metadata={"plate": "A 1234 BC", "tags": ["bus", 7]})
    response = await bulk_client.post("/ingest/observations", content=ndjson(items), headers=NDJSON)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 5, "entitiesCreated": 1, "tracksUpdated": 1}
    stored = await rows(clean_db)
    assert [r[0] for r in stored] == [datetime.fromisoformat(i["time"]) for i in items]
    assert stored[0][1] == "SRID=4326;POINT(27.4 42.5)"
    assert stored[0][7:] == (12.5, 0.0, 0.0, {"plate": "A 1234 BC", "tags": ["bus", 7]})
    kind = await clean_db.fetchval("SELECT kind FROM atlas4d.entities WHERE id = $1", entity)
    assert kind == "vehicle"
    assert await clean_db.fetchval("SELECT point_count FROM atlas4d.tracks WHERE id = $1", track) == 5


async def test_bad_line_is_named_and_nothing_is_stored(
    clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient
) -> None:
    entity = uuid.uuid4()
    items = [item(i, entity) for i in range(250)]
    items[233]["lat"] = 91.0  # in the third chunk of 100: the first two were already COPYed
    body = ndjson(items[:120]) + b"\n" + ndjson(items[120:])  # a blank line 121 still counts
    response = await bulk_client.post("/chunked/ingest/observations", content=body, headers=NDJSON)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_ITEM"
    assert (error["line"], error["field"]) == (235, "lat")
    assert error["invalidItems"] == [
        {"line": 235, "field": "lat", "message": "must be within -90..90, got 91.0"}
    ]
    assert "line 235" in error["message"]
    assert await count(clean_db) == 0
    assert await clean_db.fetchval("SELECT count(*) FROM atlas4d.entities") == 0


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (b"{not json", None, "is not valid JSON"),
        (b"[1, 2]", None, "is not a JSON object"),
        (
            b'{"time": "2026-03-01T08:00:00Z", "lon": 1, "lat": 2, "colour": "red"}',
            "colour",
            "is not a field",
        ),
        (b'{"time": 5, "lon": 1, "lat": 2}', "time", "must be an ISO-8601 string"),
        (b'{"time": "yesterday", "lon": 1, "lat": 2}', "time", "is not an ISO-8601 time"),
        (b'{"time": "2026-03-01T08:00:00", "lon": 1, "lat": 2}', "time", "must carry a time zone"),
        (b'{"time": "2026-03-01T08:00:00Z", "lat": 2}', "lon", "is required"),
        (b'{"time": "2026-03-01T08:00:00Z", "lon": "1", "lat": 2}', "lon", "must be a finite number"),
        (
            b'{"time": "2026-03-01T08:00:00Z", "lon": 1, "lat": 2, "entityId": "x"}',
            "entityId",
            "is not a UUID",
        ),
        (
            b'{"time": "2026-03-01T08:00:00Z", "lon": 1, "lat": 2, "sourceType": 7}',
            "sourceType",
            "must be a string",
        ),
        (b'{"time": "2026-03-01T08:00:00Z", "lon": 1, "lat": 2, "metadata": [1]}', "metadata", "JSON object"),
    ],
)
async def test_each_kind_of_bad_line(
    clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient, line: bytes, field: str | None, message: str
) -> None:
    body = ndjson([item(0, uuid.uuid4()), item(1, uuid.uuid4())]) + line + b"\n"
    response = await bulk_client.post("/ingest/observations", content=body, headers=NDJSON)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["line"], error["field"]) == ("INVALID_ITEM", 3, field)
    assert message in error["invalidItems"][0]["message"]
    assert await count(clean_db) == 0


async def test_fifty_thousand_lines_round_trip(
    clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient
) -> None:
    entities = [uuid.uuid4() for _ in range(50)]
    items = [item(i, entities[i % 50]) for i in range(50_000)]
    response = await bulk_client.post("/ingest/observations", content=ndjson(items), headers=NDJSON)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 50_000, "entitiesCreated": 50, "tracksUpdated": 0}
    stats = await clean_db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT entity_id) AS e, round(sum(lon)::numeric, 4) AS lon, "
        "round(sum(heading_deg)::numeric, 4) AS heading, min(t) AS first, max(t) AS last "
        "FROM atlas4d.observations_core"
    )
    assert stats["n"] == 50_000 and stats["e"] == 50
    assert float(stats["lon"]) == pytest.approx(sum(i["lon"] for i in items), abs=1e-3)
    assert float(stats["heading"]) == sum(i["heading"] for i in items)
    assert (stats["first"], stats["last"]) == (BASE, BASE + timedelta(seconds=30 * 49_999))


async def test_csv_and_ndjson_store_identical_rows(
    clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient
) -> None:
    entity, track = uuid.uuid4(), uuid.uuid4()
    items = [item(i, entity, track) for i in range(300)]
    items[5].update(altitude=-3.25, metadata={"q": 'a "quoted", multi\nline value', "n": 1})
    items[6].update(entityKind="vessel", sourceType="ais")
    response = await bulk_client.post("/ingest/observations", content=ndjson(items), headers=NDJSON)
    assert response.status_code == 200, response.text
    from_ndjson = await rows(clean_db)
    await clean_db.execute("TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks")
    response = await bulk_client.post(
        "/ingest/observations", content=as_csv(items), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 300, "entitiesCreated": 1, "tracksUpdated": 1}
    assert await rows(clean_db) == from_ndjson


async def test_csv_errors_name_the_line(clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient) -> None:
    body = as_csv([item(i, uuid.uuid4()) for i in range(3)]).replace(b",42.5,", b",north,", 1)
    response = await bulk_client.post(
        "/ingest/observations", content=body, headers={"Content-Type": "text/csv"}
    )
    error = response.json()["error"]
    assert (response.status_code, error["line"], error["field"]) == (400, 2, "lat")
    bad_header = b"time,lon,lat,colour\n2026-03-01T08:00:00Z,1,2,red\n"
    response = await bulk_client.post(
        "/ingest/observations", content=bad_header, headers={"Content-Type": "text/csv"}
    )
    assert (response.json()["error"]["line"], response.json()["error"]["field"]) == (1, "colour")
    assert await count(clean_db) == 0


async def test_same_rows_as_the_graphql_mutation(
    clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    entity, track = uuid.uuid4(), uuid.uuid4()
    items = [item(i, entity, track, altitude=float(i), metadata={"i": i}) for i in range(250)]
    response = await client.post("/graphql", json={"query": INGEST, "variables": {"o": items}})
    assert response.json()["data"]["ingestObservations"]["accepted"] == 250
    from_graphql = await rows(clean_db)
    await clean_db.execute("TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks")
    response = await bulk_client.post("/ingest/observations", content=ndjson(items), headers=NDJSON)
    assert response.status_code == 200, response.text
    assert await rows(clean_db) == from_graphql


async def test_body_streamed_in_odd_pieces(clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient) -> None:
    items = [item(i, uuid.uuid4(), metadata={"name": "Бургас ✓"}) for i in range(40)]
    body = ndjson(items)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):  # splits lines and UTF-8 sequences
            yield body[start : start + 7]

    response = await bulk_client.post("/ingest/observations", content=pieces(), headers=NDJSON)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 40
    assert (
        await clean_db.fetchval(
            "SELECT count(*) FROM atlas4d.observations_core WHERE metadata->>'name' = 'Бургас ✓'"
        )
        == 40
    )


async def test_limits_and_media_type(clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient) -> None:
    body = ndjson([item(i, uuid.uuid4()) for i in range(100)])
    assert len(body) > 4096
    response = await bulk_client.post("/small/ingest/observations", content=body, headers=NDJSON)
    assert (response.status_code, response.json()["error"]["code"]) == (413, "REQUEST_TOO_LARGE")

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: the limit is checked as bytes arrive
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await bulk_client.post("/small/ingest/observations", content=streamed(), headers=NDJSON)
    assert response.status_code == 413
    response = await bulk_client.post("/ingest/observations", json=[item(0, uuid.uuid4())])
    assert response.status_code == 415
    assert await count(clean_db) == 0


async def test_unknown_entities_refused_when_auto_create_is_off(
    clean_db: asyncpg.Pool, bulk_client: httpx.AsyncClient
) -> None:
    body = ndjson([item(0, uuid.uuid4())])
    response = await bulk_client.post(
        "/ingest/observations?autoCreateEntities=false", content=body, headers=NDJSON
    )
    error = response.json()["error"]
    assert (response.status_code, error["line"], error["field"]) == (400, 1, "entityId")
    assert await count(clean_db) == 0


async def test_the_app_serves_the_bulk_endpoint(clean_db: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/ingest/observations", content=ndjson([item(0, uuid.uuid4())]), headers=NDJSON
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "entitiesCreated": 1, "tracksUpdated": 0}
