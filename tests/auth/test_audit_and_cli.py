"""The audit trail (writes and admin actions, append-only, retention) and the `atlas4d auth` / `atlas4d audit`
commands, on the test database."""

from __future__ import annotations

import asyncio
import hashlib
import re

import asyncpg
import pytest
from auth_helpers import SECRET, bearer, gql, serve, token
from typer.testing import CliRunner

from atlas4d.auth.audit import prune
from atlas4d.cli import app as cli
from atlas4d.settings import Settings

INGEST = "mutation Load($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
OBS = [{"time": "2026-03-01T08:00:00Z", "lon": 27.47, "lat": 42.5, "sourceType": "audit"} for _ in range(3)]


async def latest(pool: asyncpg.Pool, n: int = 1) -> list[asyncpg.Record]:
    return list(await pool.fetch("SELECT * FROM atlas4d.audit_log ORDER BY id DESC LIMIT $1", n))


async def test_writes_are_audited_with_principal_operation_and_rows(
    settings: Settings, database_url: str
) -> None:
    async with serve(settings, database_url, anonymous_role="", jwt_secret=SECRET) as client:
        pool = client.app.state.pool
        who = bearer(token(roles=["ingester"], sub="loader-7", tenant="acme"))
        r = await client.post(
            "/graphql",
            json={"query": INGEST, "variables": {"o": OBS}},
            headers={**who, "x-request-id": "req-42"},
        )
        assert r.json()["data"]["ingestObservations"]["accepted"] == 3
        (row,) = await latest(pool)
        assert row["principal"] == "jwt:loader-7" and row["tenant"] == "acme" and row["action"] == "graphql"
        assert row["operation_name"] == "Load" and row["rows_affected"] == 3 and row["outcome"] == "ok"
        assert row["operation_hash"] == hashlib.sha256(INGEST.encode()).hexdigest()
        assert row["request_id"] == "req-42"
        # a denied mutation is recorded as denied
        await gql(client, INGEST, {"o": OBS}, **bearer(token(roles=["reader"], sub="peeker")))
        (row,) = await latest(pool)
        assert (row["principal"], row["outcome"]) == ("jwt:peeker", "denied")
        # REST and bulk writes, and a refused REST write
        r = await client.post(
            "/api/observations", json=[{"lat": 1, "lon": 2, "t": "2026-01-01T00:00:00Z"}] * 2, headers=who
        )
        assert r.status_code == 200
        (row,) = await latest(pool)
        assert (row["action"], row["rows_affected"], row["outcome"]) == ("rest", 2, "ok")
        line = b'{"time": "2026-03-01T08:00:00Z", "lat": 42.5, "lon": 27.47}\n' * 4
        r = await client.post(
            "/ingest/observations", content=line, headers={**who, "content-type": "application/x-ndjson"}
        )
        (row,) = await latest(pool)
        assert (row["action"], row["rows_affected"], row["outcome"]) == ("bulk", 4, "ok")
        await client.post(
            "/api/observations", json={"lat": 1, "lon": 2}, headers=bearer(token(roles=["reader"]))
        )
        (row,) = await latest(pool)
        assert (row["action"], row["outcome"]) == ("rest", "denied")
        # reads are not audited
        before = await pool.fetchval("SELECT max(id) FROM atlas4d.audit_log")
        await gql(client, "{ entities(first: 1) { nodes { id } } }", **who)
        assert await pool.fetchval("SELECT max(id) FROM atlas4d.audit_log") == before


async def test_the_trail_is_append_only_and_pruned_by_retention(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO atlas4d.audit_log (at, principal, action, outcome) VALUES "
            "(now() - interval '400 days', 'old', 'admin', 'ok'), (now(), 'new', 'admin', 'ok')"
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("UPDATE atlas4d.audit_log SET principal = 'x'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM atlas4d.audit_log")
        assert await prune(conn, 90) >= 1
        principals = {r[0] for r in await conn.fetch("SELECT principal FROM atlas4d.audit_log")}
        assert "old" not in principals and "new" in principals


async def test_cli_keys_and_audit_tail(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS4D_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    made = await asyncio.to_thread(
        runner.invoke, cli, ["auth", "key", "create", "ci-reader", "--role", "reader", "--tenant", "acme"]
    )
    assert made.exit_code == 0, made.output
    secret = re.search(r"Bearer (a4d_\S+)", made.output)
    assert secret is not None
    key_id = secret.group(1).split("_")[1]
    listed = await asyncio.to_thread(runner.invoke, cli, ["auth", "key", "list"])
    assert key_id in listed.output and secret.group(1).split("_", 2)[2] not in listed.output
    async with serve(settings, database_url, anonymous_role="") as client:
        assert (await gql(client, **bearer(secret.group(1)))).status_code == 200
    assert (await asyncio.to_thread(runner.invoke, cli, ["auth", "key", "revoke", key_id])).exit_code == 0
    assert (
        await asyncio.to_thread(runner.invoke, cli, ["auth", "key", "revoke", key_id])
    ).exit_code == 1  # already revoked
    tail = await asyncio.to_thread(runner.invoke, cli, ["audit", "tail", "-n", "5"])
    assert tail.exit_code == 0 and "auth.key.create" in tail.output and "auth.key.revoke" in tail.output
