"""Federation commands: compose, gateway, plan (filled in by the federation work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the federation commands to the root CLI."""
