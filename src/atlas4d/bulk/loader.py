"""Writing validated chunks with binary COPY, overlapping parsing with the database's work.

Each chunk is validated whole by `validate_observations` (the mutation's rules) before any of it is sent.
Its COPY then runs as a task while the caller parses the next chunk, so Python and PostgreSQL work at the
same time; with several connections the chunks go round-robin, one COPY in flight per connection.
Transactions belong to the caller: the loader never commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from atlas4d.bulk.parse import Chunk, LineError
from atlas4d.core.ingest import OBSERVATION_COPY_COLUMNS, IngestSummary, validate_observations
from atlas4d.errors import InvalidItem

MAX_REPORTED_ERRORS = 100
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class InvalidLines(InvalidItem):
    """Bad lines of a bulk load; `line` and `field` name the first, `invalidItems` lists up to 100."""

    def __init__(self, errors: Sequence[LineError], total_invalid: int | None = None) -> None:
        first = errors[0]
        where = f"line {first.line}" + (f", field {first.field}" if first.field else "")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            f"{where}: {first.message}{more}; nothing was stored",
            line=first.line,
            field=first.field,
            invalidItems=[e.as_json() for e in errors[:MAX_REPORTED_ERRORS]],
            invalidCount=total_invalid if total_invalid is not None else len(errors),
        )
        self.errors = list(errors)


def validated_rows(chunk: Chunk) -> tuple[list[tuple[Any, ...]], dict[uuid.UUID, tuple[str, str | None]]]:
    """COPY rows and entities of a chunk; raises `InvalidLines` with line numbers for any bad line."""
    errors = list(chunk.errors)
    rows: list[tuple[Any, ...]] = []
    entities: dict[uuid.UUID, tuple[str, str | None]] = {}
    if chunk.items:
        try:
            rows, entities = validate_observations(chunk.items, max_batch=len(chunk.items))
        except InvalidItem as exc:
            for item in exc.extensions.get("invalidItems", []):
                errors.append(LineError(chunk.lines[item["index"]], item["field"], item["message"]))
    if errors:
        errors.sort(key=lambda e: e.line)
        raise InvalidLines(errors[:MAX_REPORTED_ERRORS], len(errors))
    return rows, entities


class ChunkWriter:
    """COPYs validated chunks on the given connections (each already inside a transaction)."""

    def __init__(self, connections: Sequence[Connection], *, auto_create_entities: bool = True) -> None:
        if not connections:
            raise ValueError("ChunkWriter needs at least one connection")
        self._connections = list(connections)
        self._inflight: list[asyncio.Task[int] | None] = [None] * len(connections)
        self._next = 0
        self._auto_create = auto_create_entities
        self._seen_entities: set[uuid.UUID] = set()
        self.track_ids: set[uuid.UUID] = set()
        self.accepted = 0
        self.entities_created = 0

    async def write(self, chunk: Chunk) -> None:
        """Validate `chunk` and start its COPY; waits only for the previous COPY on the chosen connection."""
        rows, entities = validated_rows(chunk)
        if not rows:
            return
        new = {k: v for k, v in entities.items() if k not in self._seen_entities}
        self._seen_entities.update(new)
        self.track_ids.update(r[3] for r in rows if r[3] is not None)
        slot = self._next
        self._next = (self._next + 1) % len(self._connections)
        previous = self._inflight[slot]
        if previous is not None:
            self.entities_created += await previous
        if new and not self._auto_create:
            await self._refuse_unknown(self._connections[slot], new, chunk)
        self._inflight[slot] = asyncio.create_task(self._copy(self._connections[slot], rows, new))
        self.accepted += len(rows)

    async def drain(self) -> None:
        """Wait for every COPY in flight; re-raises the first failure."""
        tasks = [t for t in self._inflight if t is not None]
        self._inflight = [None] * len(self._connections)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
            self.entities_created += result

    async def abort(self) -> None:
        """Let what is in flight finish (or fail) so each connection is idle when the caller rolls back."""
        await asyncio.gather(*(t for t in self._inflight if t is not None), return_exceptions=True)
        self._inflight = [None] * len(self._connections)

    async def refresh_tracks(self, conn: Connection) -> int:
        if not self.track_ids:
            return 0
        updated = await conn.fetchval("SELECT atlas4d.refresh_tracks($1::uuid[])", sorted(self.track_ids))
        return int(updated)

    def summary(self, tracks_updated: int) -> IngestSummary:
        return IngestSummary(self.accepted, self.entities_created, tracks_updated)

    async def _copy(
        self,
        conn: Connection,
        rows: list[tuple[Any, ...]],
        entities: dict[uuid.UUID, tuple[str, str | None]],
    ) -> int:
        created = 0
        if entities and self._auto_create:
            ids = list(entities)
            result = await conn.execute(
                "INSERT INTO atlas4d.entities (id, kind, source_type) "
                "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) ON CONFLICT (id) DO NOTHING",
                ids,
                [entities[k][0] for k in ids],
                [entities[k][1] for k in ids],
            )
            created = int(result.split()[-1])
        await conn.copy_records_to_table(
            "observations_core", schema_name="atlas4d", columns=OBSERVATION_COPY_COLUMNS, records=rows
        )
        return created

    async def _refuse_unknown(
        self,
        conn: Connection,
        new: dict[uuid.UUID, tuple[str, str | None]],
        chunk: Chunk,
    ) -> None:
        known = {
            r["id"]
            for r in await conn.fetch("SELECT id FROM atlas4d.entities WHERE id = ANY($1::uuid[])", list(new))
        }
        missing = [e for e in new if e not in known]
        if missing:
            line = next(
                chunk.lines[i]
                for i, it in enumerate(chunk.items)
                if it.entity_id and uuid.UUID(it.entity_id) == missing[0]
            )
            message = f"entity {missing[0]} does not exist (autoCreateEntities is false)"
            raise InvalidLines([LineError(line, "entityId", message)])
