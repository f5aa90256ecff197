"""A connector batch stored exactly once: idempotency keys, then COPY, then the shared ingest step.

One transaction per batch: the batch's keys go into `atlas4d.ingest_keys` (in key order, like every other
writer's lock order: no deadlock between two connectors), and only the rows whose key was new are written
(`write_observations`: COPY from `copy_threshold` rows) and finished (`atlas4d.core.ingest.finish`:
entities in id order, then tracks). A redelivered message finds its keys taken and adds nothing; a crash
before the commit leaves nothing, and the broker redelivers what was never acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from atlas4d.connectors.messages import ValidBatch
from atlas4d.core.ingest import Connection, PendingWrite, finish, stored, write_observations


@dataclass(frozen=True)
class Stored:
    rows: int
    duplicates: int
    entities_created: int
    tracks_updated: int


async def store_batch(
    conn: Connection, source: str, batch: ValidBatch, *, copy_threshold: int, tenant: str | None = None
) -> Stored:
    """Store the new rows of `batch` in one transaction (committed when this returns)."""
    if not batch.rows:
        return Stored(0, 0, 0, 0)
    first: dict[tuple[str, datetime], int] = {}
    for k, key in enumerate(batch.keys):
        first.setdefault(key, k)  # the same key twice in one batch: the first one counts
    ordered = sorted(first)
    async with conn.transaction():
        if tenant is not None:
            await conn.execute("SELECT set_config('atlas4d.tenant', $1, true)", tenant)
        new = await conn.fetch(
            "INSERT INTO atlas4d.ingest_keys (source, external_id, t) "
            "SELECT $1, e, t FROM unnest($2::text[], $3::timestamptz[]) AS u(e, t) "
            "ON CONFLICT DO NOTHING RETURNING external_id, t",
            source,
            [e for e, _ in ordered],
            [t for _, t in ordered],
        )
        rows = sorted(first[(r["external_id"], r["t"])] for r in new)
        fresh = [batch.rows[k] for k in rows]
        if not fresh:
            return Stored(0, len(batch.rows), 0, 0)
        await write_observations(conn, fresh, copy_threshold)
        pending = PendingWrite()
        pending.add(fresh, batch.entities)
        summary = await finish(conn, pending, auto_create_entities=True)
    stored(len(fresh))  # committed
    return Stored(len(fresh), len(batch.rows) - len(fresh), summary.entities_created, summary.tracks_updated)
