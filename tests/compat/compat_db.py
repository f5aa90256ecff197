"""Shared pieces of the compatibility suite (a module of its own, not conftest.py: several test folders have a
conftest, and `from conftest import` would pick whichever pytest imported last)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import asyncpg
from seed_like import SeedLike

ORIGINAL_TABLES = ("observations_core", "anomalies", "trajectory_embeddings")


async def original_state(conn: asyncpg.Connection, max_ids: dict[str, int]) -> dict[str, Any]:
    """What the original owns: its rows (ids up to `max_ids`, as text), columns, constraints and indexes.
    Rows a test adds later (ids above) are the test's, not the original's."""
    state: dict[str, Any] = {}
    for table in ORIGINAL_TABLES:
        state[f"rows:{table}"] = await conn.fetchval(
            f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) || ':' || count(*) "
            f"FROM atlas4d.{table} x WHERE x.id <= $1",
            max_ids.get(table, 0),
        )
        state[f"columns:{table}"] = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                "WHERE table_schema = 'atlas4d' AND table_name = $1 ORDER BY ordinal_position",
                table,
            )
        ]
        state[f"constraints:{table}"] = sorted(
            tuple(r)
            for r in await conn.fetch(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = ('atlas4d.' || $1)::regclass",
                table,
            )
        )
    state["indexes"] = sorted(
        tuple(r)
        for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'atlas4d' AND indexname LIKE 'idx_%'"
        )
    )
    return state


@dataclass
class OriginalDatabase:
    url: str
    data: SeedLike
    before: dict[str, Any]  # original_state before the gateway touched it
    max_ids: dict[str, int]

    async def state(self) -> dict[str, Any]:
        conn = await asyncpg.connect(self.url)
        try:
            return await original_state(conn, self.max_ids)
        finally:
            await conn.close()

    async def forget_test_rows(self) -> None:
        """Delete what tests wrote (ids above the original's), so every test sees the original's rows."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("DELETE FROM atlas4d.anomalies WHERE id > $1", self.max_ids["anomalies"])
            await conn.execute(
                "DELETE FROM atlas4d.observations_core WHERE id > $1", self.max_ids["observations_core"]
            )
        finally:
            await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    host: str
    port: int
