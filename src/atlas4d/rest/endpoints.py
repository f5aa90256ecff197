"""The Core Spec v0.3 endpoints (docs/core-spec-compat.md has the shapes and how they map)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response

from atlas4d import CORE_SPEC_VERSION, __version__
from atlas4d.core.filters import where
from atlas4d.core.sql import Params
from atlas4d.db.availability import is_unavailable
from atlas4d.db.replicas import mark_read_only, pool_for
from atlas4d.errors import BadInput, DatabaseUnavailable, RequestTooLarge, UnsupportedMediaType
from atlas4d.rest import ingest
from atlas4d.rest.errors import json_response, request_id_of
from atlas4d.rest.params import hours_window, integer, limit, observation_query, texts
from atlas4d.rest.sql import fill, rest_sql
from atlas4d.settings import Settings

HEALTH_TIMEOUT_S = 2.0
OBSERVATIONS_LIMIT = 100
ANOMALIES_LIMIT = 50
GEOJSON_LIMIT = 500

log = logging.getLogger("atlas4d.rest")


def _pool(request: Request) -> asyncpg.Pool:
    mark_read_only(request, request.method == "GET")  # GETs only read: a fresh replica may serve them
    pool: asyncpg.Pool | None = pool_for(request)
    if pool is None:
        raise DatabaseUnavailable("the database pool is not open")
    return pool


def _settings(request: Request) -> Settings:
    settings: Settings | None = getattr(request.app.state, "settings", None)
    return settings if settings is not None else Settings()


def _replicas(request: Request) -> dict[str, list[str]]:
    router = getattr(request.app.state, "read_router", None)
    return {"read_replicas": router.status()} if router is not None else {}


async def health(request: Request) -> Response:
    """Always 200 while the process serves, as the original answered: `healthy`, or `degraded` with
    `postgres` saying why (`unhealthy`: the pool's probe failed; `not connected`: started without the database
    and still retrying, see atlas4d.db.availability). Readiness for load balancers is not this endpoint's job."""
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    postgres = "not connected"
    if pool is not None and not is_unavailable(pool):
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S), pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            postgres = "healthy"
        except Exception as exc:  # any failure of the probe means unhealthy, whatever its kind
            postgres = "unhealthy"
            request_id = getattr(request.state, "request_id", None) or request_id_of(request)
            log.warning("request %s: health probe failed: %r", request_id, exc)
    body = {
        "status": "healthy" if postgres == "healthy" else "degraded",
        "postgres": postgres,
        "redis": "not connected",
        **_replicas(request),
        "version": __version__,
        "core_spec": CORE_SPEC_VERSION,
    }
    return json_response(body)


async def stats(request: Request) -> Response:
    row = await _pool(request).fetchrow(rest_sql("stats.sql"))
    assert row is not None
    return json_response(dict(row))


async def list_observations(request: Request) -> Response:
    query = observation_query(
        request.query_params, default_limit=OBSERVATIONS_LIMIT, max_limit=_settings(request).max_page_size
    )
    params = Params()
    sql = fill(
        rest_sql("observations.sql"), where=where(query.filter.sql(params)), limit=params.add(query.limit)
    )
    rows = await _pool(request).fetch(sql, *params.values)
    return json_response([dict(r) for r in rows])


async def observations_geojson(request: Request) -> Response:
    query = observation_query(
        request.query_params, default_limit=GEOJSON_LIMIT, max_limit=_settings(request).max_page_size
    )
    params = Params()
    sql = fill(
        rest_sql("geojson_observations.sql"),
        where=where(query.filter.sql(params)),
        limit=params.add(query.limit),
    )
    document: str = await _pool(request).fetchval(sql, *params.values)
    return Response(document, media_type="application/json")


async def list_anomalies(request: Request) -> Response:
    query = request.query_params
    # any integer, as in the original: severities are 1..5, so clamping to 0..6 changes no answer
    severity_min = max(0, min(6, integer(query, "severity_min", 1)))
    window = hours_window(query)
    count = limit(query, ANOMALIES_LIMIT, _settings(request).max_page_size)
    params = Params()
    clauses = [*window.sql("a.detected_at", params), f"a.severity >= {params.add(severity_min)}"]
    types = texts(query, "anomaly_type")
    if types is not None:
        clauses.append(f"a.anomaly_type = ANY({params.add(types, 'text[]')})")
    sql = fill(rest_sql("anomalies.sql"), where=where(clauses), limit=params.add(count))
    rows = await _pool(request).fetch(sql, *params.values)
    return json_response([dict(r) for r in rows])


async def create_observations(request: Request) -> Response:
    settings = _settings(request)
    body = await _json_body(request, settings.max_body_bytes)
    items = ingest.parse_body(body, settings.max_ingest_batch)
    ids = await ingest.insert_observations(_pool(request), items)
    if isinstance(body, list):
        return json_response({"ids": ids, "count": len(ids), "status": "created"})
    return json_response({"id": ids[0], "status": "created"})


async def _json_body(request: Request, max_bytes: int) -> Any:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        # text/plain and form bodies come cross-site without a CORS preflight (CSRF); JSON needs one
        raise UnsupportedMediaType(
            f"the body must be sent as Content-Type: application/json, got {media[:60] or 'none'!r}",
            field="Content-Type",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RequestTooLarge(f"the request body is larger than {max_bytes} bytes", maximum=max_bytes)
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"the body is not valid JSON: {exc}", field="body") from None
