"""Tenancy: every transaction of the server's pool carries the request's tenant as a transaction-local
setting (`set_config('atlas4d.tenant', <tenant>, true)`), which the row-level security policies of core and
module tables compare with each row's `tenant_id` (migration core/0008).

`TenantConnection` is the pool's connection class when tenancy is on. A transaction it begins sends the
setting in the same round trip as its `BEGIN`; a statement sent outside a transaction (`pool.fetch(...)`) is
wrapped in one. The tenant comes from `current_tenant`, set by the HTTP layer from verified credentials;
without one the setting is empty and the policies show no row and accept no write (fail closed).

The pool connects as the database URL's user and switches to `ATLAS4D_DB_ROLE` (a non-owner, non-superuser
member of `atlas4d_tenant`), because owners and superusers bypass row-level security. `prepare_tenancy`
creates that role and its grants, and `check_tenancy` refuses to serve when the pool's role would bypass RLS.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from atlas4d.auth.principal import TENANT_PATTERN, current_tenant
from atlas4d.errors import Atlas4DError

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SELECT pg_advisory_unlock_all")


class TenancyMisconfigured(Atlas4DError):
    code = "TENANCY_MISCONFIGURED"
    http_status = 500


def _tenant_literal(tenant: str) -> str:
    if not TENANT_PATTERN.match(tenant):  # the pattern admits no quote; checked again at the last step
        raise TenancyMisconfigured("refusing a malformed tenant id")
    return f"'{tenant}'"


class TenantConnection(asyncpg.Connection):
    def _outside(self) -> bool:
        return current_tenant.get() is not None and not self.is_in_transaction()

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109
        tenant = current_tenant.get()
        if tenant is not None and not args and query.startswith("BEGIN") and not self.is_in_transaction():
            # asyncpg's Transaction.start() sends "BEGIN ...;" as a simple query: one round trip for both
            query = f"{query} SELECT set_config('atlas4d.tenant', {_tenant_literal(tenant)}, true);"
            return str(await super().execute(query, timeout=timeout))
        if tenant is not None and not query.lstrip().startswith(_CONTROL) and not self.is_in_transaction():
            async with self.transaction():
                return str(await super().execute(query, *args, timeout=timeout))
        return str(await super().execute(query, *args, timeout=timeout))

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> list[Any]:
        if self._outside():
            async with self.transaction():
                return list(await super().fetch(query, *args, **kwargs))
        return list(await super().fetch(query, *args, **kwargs))

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if self._outside():
            async with self.transaction():
                return await super().fetchrow(query, *args, **kwargs)
        return await super().fetchrow(query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if self._outside():
            async with self.transaction():
                return await super().fetchval(query, *args, **kwargs)
        return await super().fetchval(query, *args, **kwargs)

    async def fetchmany(self, query: str, args: Any, **kwargs: Any) -> list[Any]:
        if self._outside():
            async with self.transaction():
                return list(await super().fetchmany(query, args, **kwargs))
        return list(await super().fetchmany(query, args, **kwargs))

    async def executemany(self, command: str, args: Any, **kwargs: Any) -> None:
        if self._outside():
            async with self.transaction():
                await super().executemany(command, args, **kwargs)
                return
        await super().executemany(command, args, **kwargs)

    async def copy_records_to_table(
        self,
        table_name: str,
        *,
        records: Any,
        columns: Any = None,
        schema_name: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        where: Any = None,
    ) -> str:
        """PostgreSQL refuses COPY FROM into a table with row-level security; with a tenant the rows go
        through a temporary staging table and one INSERT … SELECT, which the policies check."""
        if current_tenant.get() is None:
            return str(
                await super().copy_records_to_table(
                    table_name,
                    records=records,
                    columns=columns,
                    schema_name=schema_name,
                    timeout=timeout,
                    where=where,
                )
            )

        async def copy(stage: str) -> Any:
            return await super(TenantConnection, self).copy_records_to_table(
                stage, records=records, columns=columns, schema_name="pg_temp", timeout=timeout
            )

        return await self._staged(table_name, columns, schema_name, copy)

    async def copy_to_table(
        self,
        table_name: str,
        *,
        source: Any,
        columns: Any = None,
        schema_name: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        **options: Any,
    ) -> str:
        """COPY of ready-made data (the bulk paths' binary COPY): staged like `copy_records_to_table`."""
        if current_tenant.get() is None:
            return str(
                await super().copy_to_table(
                    table_name,
                    source=source,
                    columns=columns,
                    schema_name=schema_name,
                    timeout=timeout,
                    **options,
                )
            )

        async def copy(stage: str) -> Any:
            return await super(TenantConnection, self).copy_to_table(
                stage, source=source, columns=columns, schema_name="pg_temp", timeout=timeout, **options
            )

        return await self._staged(table_name, columns, schema_name, copy)

    async def _staged(
        self,
        table_name: str,
        columns: Any,
        schema_name: str | None,
        copy: Callable[[str], Awaitable[Any]],
    ) -> str:
        target = (
            f"{quote_ident(schema_name)}.{quote_ident(table_name)}"
            if schema_name
            else quote_ident(table_name)
        )
        cols = ", ".join(quote_ident(c) for c in columns) if columns else "*"
        stage_name = f"atlas4d_stage_{abs(hash((schema_name, table_name, tuple(columns or ())))):x}"
        stage = quote_ident(stage_name)
        async with self.transaction():
            await super().execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {target} WITH NO DATA"
            )
            status = await copy(stage_name)
            insert_cols = f" ({cols})" if columns else ""
            await super().execute(f"INSERT INTO {target}{insert_cols} SELECT {cols} FROM pg_temp.{stage}")
            await super().execute(f"TRUNCATE pg_temp.{stage}")
        return str(status)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def prepare_tenancy(conn: Any, role: str) -> None:
    """Run as the database owner at start-up (tenancy on): RLS policies on every registered table (again,
    for tables migrated before the `atlas4d_tenant` role could be made), the pool's role, and its grants."""
    r = quote_ident(role)
    await conn.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atlas4d_tenant') THEN
                CREATE ROLE atlas4d_tenant NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(role)}) THEN
                CREATE ROLE {r} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
        GRANT atlas4d_tenant TO {r};
        """
    )
    # a superuser is a member already; otherwise the administrator grants it (docs/security.md)
    with contextlib.suppress(asyncpg.PostgresError):
        await conn.execute(f"GRANT {r} TO CURRENT_USER")
    for (table,) in await conn.fetch("SELECT table_name::text FROM atlas4d.tenant_tables"):
        await conn.execute("SELECT atlas4d.enable_tenancy($1::regclass)", table)
    schemas = [
        s
        for (s,) in await conn.fetch(
            "SELECT nspname::text FROM pg_namespace WHERE nspname = 'atlas4d' OR nspname LIKE 'atlas4d\\_%'"
        )
    ]
    for schema in schemas:
        s = quote_ident(schema)
        await conn.execute(
            f"GRANT USAGE ON SCHEMA {s} TO atlas4d_tenant; "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO atlas4d_tenant; "
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO atlas4d_tenant; "
            f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO atlas4d_tenant"
        )
    # the audit trail is append-only for the server; keys and migrations are read-only to it
    await conn.execute(
        "REVOKE UPDATE, DELETE ON atlas4d.audit_log FROM atlas4d_tenant; "
        "REVOKE SELECT ON atlas4d.audit_log FROM atlas4d_tenant; "
        "REVOKE INSERT, UPDATE, DELETE ON atlas4d.api_keys, atlas4d.schema_migrations, atlas4d.tenant_tables "
        "FROM atlas4d_tenant"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def check_tenancy(pool: asyncpg.Pool) -> None:
    """Refuse to serve when the pool's role would see every tenant's rows."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT r.rolsuper OR r.rolbypassrls AS bypass, "
            "pg_has_role(current_user, 'atlas4d_tenant', 'USAGE') AS scoped, "
            "EXISTS (SELECT 1 FROM atlas4d.tenant_tables t JOIN pg_class c ON c.oid = t.table_name "
            "        WHERE pg_has_role(current_user, c.relowner, 'USAGE')) AS owner "
            "FROM pg_roles r WHERE r.rolname = current_user"
        )
    if row is None or row["bypass"] or not row["scoped"] or row["owner"]:
        raise TenancyMisconfigured(
            "tenancy is on but the server's database role bypasses row-level security (superuser, "
            "BYPASSRLS, table owner, or not a member of atlas4d_tenant); see docs/security.md"
        )
