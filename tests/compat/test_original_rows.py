"""Serving an original database changes nothing the original owns: its rows, columns, constraints and
indexes are the same after our migrations ran at start-up, and migrating again applies nothing."""

from __future__ import annotations

import asyncpg
from compat_db import OriginalDatabase
from starlette.applications import Starlette

from atlas4d.app import all_migrations
from atlas4d.db.migrate import migrate


async def test_migrations_leave_the_original_untouched(
    compat_app: Starlette, original_db: OriginalDatabase
) -> None:
    assert await original_db.state() == original_db.before
    conn = await asyncpg.connect(original_db.url)
    try:
        # our tables now exist next to the original's
        assert await conn.fetchval("SELECT to_regclass('atlas4d.entities') IS NOT NULL")
        applied = await migrate(conn, all_migrations(compat_app.state.modules))
    finally:
        await conn.close()
    assert applied == []
    assert await original_db.state() == original_db.before
