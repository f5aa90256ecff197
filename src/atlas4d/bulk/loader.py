"""Writing validated chunks with binary COPY, overlapping parsing with the database's work.

Each chunk is validated whole (the mutation's rules: `atlas4d.bulk.fast` for NDJSON, `validate_observations`
when it declines) before any of it is sent. `copy_chunks` sends a load as binary COPY whose data is produced
while it runs: chunk N+1 is parsed, validated and encoded (`atlas4d.core.pgcopy`) while PostgreSQL is still
reading chunk N from the socket, so Python and PostgreSQL work at the same time, without a statement per
chunk (a COPY ends after a third of statement_timeout and the next one goes on). A bad line ends the data
early and the caller's transaction rolls back: nothing is stored. `ChunkWriter` (one COPY per chunk, as a
task) is the path when unknown entities must be refused, which needs a query between chunks. Everything goes
through one connection, inside the caller's transaction: the loader never commits. `finish` ends the write
the way the mutation does (`atlas4d.core.ingest.finish`): entities in id order, then the touched tracks, so
concurrent loads and mutations never deadlock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import asyncpg

from atlas4d.bulk.fast import fast_rows
from atlas4d.bulk.parse import Chunk, LineError, decoded
from atlas4d.core.ingest import (
    OBSERVATION_COPY_COLUMNS,
    EntityKinds,
    IngestSummary,
    PendingWrite,
    finish,
    missing_entities,
    validate_observations,
    write_observations,
)
from atlas4d.core.pgcopy import HEADER, TRAILER, encode_rows
from atlas4d.errors import InvalidItem

MAX_REPORTED_ERRORS = 100
SLICE_LINES = 1_000  # NDJSON lines parsed between two hand-overs to the event loop
DEFAULT_SEGMENT_MS = 10_000  # one COPY's span when statement_timeout is off
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


def validated_rows(chunk: Chunk) -> tuple[list[tuple[Any, ...]], EntityKinds]:
    """COPY rows and entities of a chunk; raises `InvalidLines` with line numbers for any bad line."""
    if chunk.raw and not chunk.errors:
        fast = fast_rows(chunk.raw)
        if fast is not None:
            return fast
    chunk = decoded(chunk)
    errors = list(chunk.errors)
    rows: list[tuple[Any, ...]] = []
    entities: EntityKinds = {}
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
    """COPYs validated chunks on one connection (already inside a transaction)."""

    def __init__(self, connection: Connection, *, auto_create_entities: bool = True) -> None:
        self._connection = connection
        self._inflight: asyncio.Task[None] | None = None
        self._auto_create = auto_create_entities
        self._checked: set[uuid.UUID] = set()
        self.pending = PendingWrite()

    async def write(self, chunk: Chunk) -> None:
        """Validate `chunk` and start its COPY; waits only for the previous COPY."""
        rows, entities = validated_rows(chunk)
        if not rows:
            return
        await self._wait()
        if not self._auto_create:
            new = [e for e in entities if e not in self._checked]
            self._checked.update(new)
            if new:
                await self._refuse_unknown(new, chunk)
        self.pending.add(rows, entities)
        self._inflight = asyncio.create_task(write_observations(self._connection, rows, copy_threshold=0))

    async def drain(self) -> None:
        """Wait for the COPY in flight; re-raises its failure."""
        await self._wait()

    async def abort(self) -> None:
        """Let what is in flight finish (or fail) so the connection is idle when the caller rolls back."""
        if self._inflight is not None:
            await asyncio.gather(self._inflight, return_exceptions=True)
            self._inflight = None

    async def finish(self) -> IngestSummary:
        """Entities, then tracks (see `atlas4d.core.ingest.finish`); the caller commits."""
        await self._wait()
        return await finish(self._connection, self.pending, auto_create_entities=self._auto_create)

    async def _wait(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None:
            await task

    async def _refuse_unknown(self, new: list[uuid.UUID], chunk: Chunk) -> None:
        missing = await missing_entities(self._connection, new)
        if missing:
            chunk = decoded(chunk)
            line = next(
                chunk.lines[i]
                for i, it in enumerate(chunk.items)
                if it.entity_id and uuid.UUID(it.entity_id) == missing[0]
            )
            message = f"entity {missing[0]} does not exist (autoCreateEntities is false)"
            raise InvalidLines([LineError(line, "entityId", message)])


def slices(chunk: Chunk) -> Iterator[tuple[list[tuple[Any, ...]], EntityKinds]]:
    """The rows of a chunk in slices of `SLICE_LINES` lines (the fast path), or whole (the items' path):
    raises `InvalidLines` naming every bad line of the chunk's lines from the first slice the fast path
    declines (the slices before it were valid)."""
    if chunk.raw and not chunk.errors:
        for start in range(0, len(chunk.raw), SLICE_LINES):
            fast = fast_rows(chunk.raw[start : start + SLICE_LINES])
            if fast is None:
                rest = Chunk([], chunk.lines[start:], [], chunk.raw[start:])
                yield validated_rows(decoded(rest))
                return
            yield fast
        return
    yield validated_rows(chunk)


async def statement_budget(connection: Connection) -> float:
    """Seconds one COPY may run: a third of the session's statement_timeout (0: none; then 30 s)."""
    timeout_ms = await connection.fetchval(
        "SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'"
    )
    return (int(timeout_ms) or DEFAULT_SEGMENT_MS * 3) / 3000


async def copy_chunks(
    connection: Connection, chunks: AsyncIterator[Chunk], segment_s: float | None = None
) -> IngestSummary:
    """Validate and store every chunk `chunks` yields with binary COPY fed while they are parsed, then
    `finish` (entities are created: this is the autoCreateEntities path). One COPY runs for at most
    `segment_s` seconds (default: a third of statement_timeout) before the next one takes over, so no load is
    cut by the statement timeout however long it is. Raises the first failure of `chunks` (`InvalidLines`
    for a bad line) after ending the COPY cleanly; the caller's transaction, which must roll back then, has
    everything sent so far. The caller commits."""
    pending = PendingWrite()
    failure: list[Exception] = []
    budget = segment_s if segment_s is not None else await statement_budget(connection)
    done = False

    async def segment() -> AsyncIterator[bytes]:
        nonlocal done
        yield HEADER
        ends = time.monotonic() + budget
        try:
            async for chunk in chunks:
                for rows, entities in slices(chunk):
                    pending.add(rows, entities)
                    yield encode_rows(rows)
                    # let the event loop move what asyncpg buffered into the socket before the next slice is
                    # parsed: PostgreSQL reads the socket while Python parses (a 10k-line chunk parsed in one
                    # go kept the loop busy ~50 ms, and PostgreSQL ran dry on a full socket buffer)
                    await asyncio.sleep(0)
                if time.monotonic() > ends:
                    break  # `chunks` stays open: the next segment goes on from here
            else:
                done = True
        except Exception as exc:  # ended here, not by raising into asyncpg: that sends a cancel request
            failure.append(exc)
            done = True
        yield TRAILER

    while not done:
        await connection.copy_to_table(
            "observations_core",
            schema_name="atlas4d",
            columns=list(OBSERVATION_COPY_COLUMNS),
            source=segment(),
            format="binary",
        )
    if failure:
        raise failure[0]
    return await finish(connection, pending, auto_create_entities=True)
