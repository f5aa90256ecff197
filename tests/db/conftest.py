"""Fixtures of the database tests: the `atlas4d` CLI app with its `db` group, and empty databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import typer

from atlas4d.cli import db


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal width; keep messages on one line
    app = typer.Typer()
    db.register(app)

    @app.callback()
    def main() -> None:
        """atlas4d"""

    return app


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """An empty database of its own (created and dropped here), so migrations start from nothing."""
    base, _ = database_url.rsplit("/", 1)
    name = f"atlas4d_cli_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield f"{base}/{name}"
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
