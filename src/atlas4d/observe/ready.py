"""`/ready`: may this process take traffic? (`/health` only says it is alive; docs/operations.md.)

Ready means all three of:
- the database pool is open (not the degraded stand-in of `atlas4d.db.availability`) and answers a query
  within `PROBE_TIMEOUT_S`;
- every migration this process's code expects (core, then each enabled module's) is recorded as applied — a pod
  started before the pre-upgrade migration Job finished stays out of the load balancer until it has;
- the supergraph is loaded (the gateway of core + modules is built; for `atlas4d gateway`, the file's).

The answer is 200 `{"status": "ready", ...}` or 503 `{"status": "not ready", ...}` with each check's `ok` and
what it saw (pool size/idle/max, pending migrations, subgraph names), so an operator reads the reason off the
probe. Nothing secret is in it: no DSN, no error text from the driver (that goes to the log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from atlas4d.db.availability import describe, is_unavailable
from atlas4d.rest.errors import json_response

PROBE_TIMEOUT_S = 2.0
log = logging.getLogger("atlas4d.ready")

APPLIED_SQL = "SELECT module, version FROM atlas4d.schema_migrations"


def pool_usage(pool: object) -> dict[str, int] | None:
    """size / idle / in use / max of an asyncpg pool (None for the stand-in or no pool)."""
    if pool is None or is_unavailable(pool) or not isinstance(pool, asyncpg.Pool):
        return None
    size, idle = pool.get_size(), pool.get_idle_size()
    return {"size": size, "idle": idle, "in_use": size - idle, "max": pool.get_max_size()}


async def database_checks(
    pool: object, expected: Sequence[tuple[str, str]], request_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(database check, migrations check) from one probe query."""
    usage = pool_usage(pool)
    if usage is None:
        reason = "not connected" if pool is None or is_unavailable(pool) else "no pool"
        return {"ok": False, "state": reason}, {"ok": False, "state": "unknown"}
    assert isinstance(pool, asyncpg.Pool)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), pool.acquire() as conn:
            try:
                rows = await conn.fetch(APPLIED_SQL)
            except asyncpg.UndefinedTableError:
                rows = []
    except Exception as exc:  # any failure of the probe means not ready, whatever its kind
        log.warning("request %s: readiness probe failed: %s", request_id, describe(exc))
        return {"ok": False, "state": "unhealthy", "pool": usage}, {"ok": False, "state": "unknown"}
    applied = {(r["module"], r["version"]) for r in rows}
    pending = [f"{module}/{version}" for module, version in expected if (module, version) not in applied]
    migrations = {"ok": not pending, "expected": len(expected), "pending": pending}
    return {"ok": True, "state": "healthy", "pool": pool_usage(pool)}, migrations


def supergraph_check(gateway: object | None, subgraph: str | None = None) -> dict[str, Any]:
    if subgraph is not None:  # `atlas4d serve --subgraph NAME` serves one subgraph, no supergraph
        return {"ok": True, "state": "not used", "subgraph": subgraph}
    names = getattr(gateway, "subgraphs", None)
    if gateway is None or names is None:
        return {"ok": False, "state": "not loaded"}
    return {"ok": True, "state": "loaded", "subgraphs": sorted(names)}


def ready_response(checks: dict[str, dict[str, Any]]) -> Response:
    ok = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    return json_response(body, status_code=200 if ok else 503)


async def ready(request: Request) -> Response:
    """The platform's probe (`atlas4d serve`)."""
    state = request.app.state
    request_id = getattr(request.state, "request_id", "-")
    database, migrations = await database_checks(
        getattr(state, "pool", None), getattr(state, "expected_migrations", ()), request_id
    )
    supergraph = supergraph_check(getattr(state, "gateway", None), getattr(state, "subgraph", None))
    return ready_response({"database": database, "migrations": migrations, "supergraph": supergraph})
