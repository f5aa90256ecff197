"""The audit trail: one row in `atlas4d.audit_log` per write request and admin action (principal, tenant,
operation name and hash, rows affected, outcome, request id). Written after the work, on the request's own
tenant, and never allowed to fail the request it describes (a failed audit write is logged)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from atlas4d.db.pool import unlogged

log = logging.getLogger("atlas4d.audit")


@dataclass
class AuditEntry:
    principal: str
    tenant: str | None
    action: str  # graphql, rest, bulk, admin
    outcome: str  # ok, error, denied
    operation_name: str | None = None
    operation_hash: str | None = None
    rows_affected: int | None = None
    request_id: str | None = None
    detail: dict[str, Any] | None = None


def operation_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


INSERT = (
    "INSERT INTO atlas4d.audit_log (principal, tenant, action, operation_name, operation_hash, rows_affected, "
    "outcome, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


async def record(conn: Any, entry: AuditEntry) -> None:
    try:
        with unlogged():
            await conn.execute(
                INSERT,
                entry.principal,
                entry.tenant,
                entry.action,
                entry.operation_name,
                entry.operation_hash,
                entry.rows_affected,
                entry.outcome,
                entry.request_id,
                entry.detail,
            )
    except Exception as exc:  # the request it describes is done: never fail it, say so in the log
        log.error("audit: could not record %s %s: %s", entry.action, entry.request_id, type(exc).__name__)


def rows_in(value: Any) -> int:
    """Rows a mutation reports: list lengths, or `count`/`accepted`-style numbers, summed."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        for key in ("accepted", "count", "created", "inserted", "updated", "rowsAffected"):
            if isinstance(value.get(key), int):
                return int(value[key])
        for key in ("ids", "items", "nodes", "entities", "observations", "anomalies"):
            if isinstance(value.get(key), list):
                return len(value[key])
        return 1 if value else 0
    return 0 if value is None else 1


async def tail(conn: Any, limit: int = 50) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, at, principal, tenant, action, operation_name, operation_hash, rows_affected, outcome, "
        "request_id FROM atlas4d.audit_log ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [dict(r) for r in reversed(rows)]


async def prune(conn: Any, retention_days: int) -> int:
    if retention_days <= 0:
        return 0
    n = await conn.fetchval("SELECT atlas4d.prune_audit(make_interval(days => $1))", retention_days)
    return int(n or 0)
