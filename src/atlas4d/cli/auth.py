"""`atlas4d auth key create|list|revoke` (API keys, stored hashed) and `atlas4d audit tail|prune`.

Both work on the database directly, as its owner (the URL of `ATLAS4D_DATABASE_URL` or the embedded
cluster), and record key changes in the audit trail as admin actions of `cli:<OS user>`."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from atlas4d.auth import api_keys, audit
from atlas4d.cli.db import _connection, _migrate, _run
from atlas4d.db.migrate import core_migrations
from atlas4d.settings import Settings


async def _with_connection(settings: Settings, work: Any) -> Any:
    await _migrate(settings, core_migrations())
    conn = await _connection(settings)
    try:
        return await work(conn)
    finally:
        await conn.close()


def _admin() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def register(app: typer.Typer) -> None:
    console = Console()
    auth = typer.Typer(no_args_is_help=True, help="Credentials: API keys.")
    key = typer.Typer(no_args_is_help=True, help="API keys (the secret is shown once, stored as SHA-256).")
    auth.add_typer(key, name="key")
    app.add_typer(auth, name="auth")
    audit_app = typer.Typer(no_args_is_help=True, help="The audit trail of writes and admin actions.")
    app.add_typer(audit_app, name="audit")

    @key.command("create")
    def create(
        name: Annotated[str, typer.Argument(help="What the key is for, e.g. 'ci-ingest'.")],
        role: Annotated[list[str], typer.Option("--role", help="A role (repeatable).")],
        scope: Annotated[list[str] | None, typer.Option("--scope", help="A scope (repeatable).")] = None,
        tenant: Annotated[str | None, typer.Option(help="The tenant whose rows the key reaches.")] = None,
        expires_days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
    ) -> None:
        """Create a key and print it (once: only its hash is kept)."""
        settings = Settings()
        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None

        async def work(conn: Any) -> tuple[str, api_keys.ApiKey]:
            async with conn.transaction():
                made = await api_keys.create_key(conn, name, list(role), list(scope or []), tenant, expires)
                entry = audit.AuditEntry(
                    _admin(),
                    tenant,
                    "admin",
                    "ok",
                    "auth.key.create",
                    detail={"key": made[1].id, "roles": role},
                )
                await audit.record(conn, entry)
            return made

        secret, made = _run(console, lambda: _with_connection(settings, work))
        console.print(f"key [bold]{made.id}[/] created for {', '.join(made.roles)}; send it as")
        console.print(f"  Authorization: Bearer {secret}", soft_wrap=True, highlight=False)
        console.print("[yellow]it is not shown again[/]")

    @key.command("list")
    def list_command() -> None:
        """Every key: id, name, roles, tenant, dates (never a secret)."""
        settings = Settings()
        keys: list[api_keys.ApiKey] = _run(console, lambda: _with_connection(settings, api_keys.list_keys))
        table = Table("id", "name", "roles", "scopes", "tenant", "created", "expires", "revoked")
        for k in keys:
            dates = [
                d.isoformat(timespec="seconds") if d else ""
                for d in (k.created_at, k.expires_at, k.revoked_at)
            ]
            table.add_row(k.id, k.name, ",".join(k.roles), ",".join(k.scopes), k.tenant or "", *dates)
        console.print(table)

    @key.command("revoke")
    def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `list`).")]) -> None:
        """Revoke a key (within 10 s on every running server)."""
        settings = Settings()

        async def work(conn: Any) -> bool:
            async with conn.transaction():
                done = await api_keys.revoke_key(conn, key_id)
                outcome = "ok" if done else "error"
                entry = audit.AuditEntry(
                    _admin(), None, "admin", outcome, "auth.key.revoke", detail={"key": key_id}
                )
                await audit.record(conn, entry)
            return done

        if not _run(console, lambda: _with_connection(settings, work)):
            console.print(f"[bold red]error[/] no active key {key_id!r}")
            raise typer.Exit(1)
        console.print(f"key {key_id} revoked")

    @audit_app.command("tail")
    def tail(limit: Annotated[int, typer.Option("-n", help="How many of the latest rows.")] = 50) -> None:
        """The latest audit rows, oldest first."""
        settings = Settings()
        rows = _run(console, lambda: _with_connection(settings, lambda c: audit.tail(c, limit)))
        columns = [
            "at",
            "principal",
            "tenant",
            "action",
            "operation_name",
            "rows_affected",
            "outcome",
            "request_id",
        ]
        table = Table(*columns)
        for r in rows:
            table.add_row(*("" if r[c] is None else str(r[c]) for c in columns))
        console.print(table)

    @audit_app.command("prune")
    def prune() -> None:
        """Delete rows older than ATLAS4D_AUDIT_RETENTION_DAYS."""
        settings = Settings()
        n = _run(
            console,
            lambda: _with_connection(settings, lambda c: audit.prune(c, settings.audit_retention_days)),
        )
        console.print(f"{n} audit rows older than {settings.audit_retention_days} days deleted")
