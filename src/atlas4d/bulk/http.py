"""`POST /ingest/observations`: NDJSON (or CSV with a header) streamed into one transaction.

The body is read as it arrives and cut into chunks of `CHUNK_LINES` lines; each chunk is validated whole,
and sent as part of one COPY while the next one is parsed (`atlas4d.bulk.loader.copy_chunks`). Any bad line rolls the whole request back (all or nothing) and
answers 400 naming the line and field; a body over the bulk limit answers 413.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from atlas4d.bulk.loader import ChunkWriter, Connection, copy_chunks
from atlas4d.bulk.stream import MAX_LINE_BYTES, BulkBody, parsed
from atlas4d.core.ingest import stored
from atlas4d.errors import BadInput, RequestTooLarge, UnsupportedMediaType
from atlas4d.rest.errors import json_response

CHUNK_LINES = 10_000
DEFAULT_MAX_BODY_BYTES = 1024 * 1024 * 1024
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq")
CSV_TYPES = ("text/csv",)


def max_body_bytes_from_env() -> int:
    """`ATLAS4D_BULK_MAX_BODY_BYTES` (default 1 GiB); separate from the GraphQL body limit."""
    return int(os.environ.get("ATLAS4D_BULK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


def body_limit(request: Request) -> int:
    """The app's `settings.bulk_max_body_bytes` when it has one, else the environment's (or 1 GiB)."""
    settings = getattr(request.app.state, "settings", None)
    configured = getattr(settings, "bulk_max_body_bytes", None)
    return int(configured) if configured is not None else max_body_bytes_from_env()


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise BadInput(f"query parameter {name} must be true or false, got {value[:20]!r}", field=name)


async def load_stream(
    conn: Connection,
    body: BulkBody,
    pieces: AsyncIterator[bytes],
    *,
    auto_create_entities: bool,
    max_bytes: int,
) -> dict[str, int]:
    """Parse and write everything `pieces` (an async iterator of bytes) yields, inside one transaction."""
    async with conn.transaction():
        if auto_create_entities:
            s = await copy_chunks(conn, parsed(body, pieces, max_bytes))
        else:
            writer = ChunkWriter(conn, auto_create_entities=False)
            try:
                async for chunk in parsed(body, pieces, max_bytes):
                    await writer.write(chunk)
                s = await writer.finish()
            except BaseException:
                # the connection must be idle before the transaction rolls back
                await writer.abort()
                raise
    stored(s.accepted)  # committed
    return {"accepted": s.accepted, "entitiesCreated": s.entities_created, "tracksUpdated": s.tracks_updated}


def ingest_endpoint(max_body_bytes: int | None, chunk_lines: int = CHUNK_LINES):  # type: ignore[no-untyped-def]
    async def ingest(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in NDJSON_TYPES + CSV_TYPES:
            raise UnsupportedMediaType(
                "Content-Type must be application/x-ndjson (one ObservationInput object per line) "
                f"or text/csv with a header, got {content_type or 'none'!r}",
                field="Content-Type",
            )
        limit = max_body_bytes if max_body_bytes is not None else body_limit(request)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(
                f"the request body is larger than {limit} bytes (ATLAS4D_BULK_MAX_BODY_BYTES)", maximum=limit
            )
        auto_create = _flag(request, "autoCreateEntities", True)
        settings = getattr(request.app.state, "settings", None)
        line_limit = getattr(settings, "bulk_max_line_bytes", MAX_LINE_BYTES)
        body = BulkBody(content_type in CSV_TYPES, chunk_lines, line_limit)
        pool: asyncpg.Pool = request.app.state.pool
        async with pool.acquire() as conn:
            result = await load_stream(
                conn, body, request.stream(), auto_create_entities=auto_create, max_bytes=limit
            )
        return json_response(result)

    return ingest
