"""The `atlas4d` command line: one Typer app, one sub-module per command group.

`atlas4d ingest FILE` builds an app with only its own command: importing every group (the server, GraphQL,
the gateway) cost it seconds of start-up on a loaded machine, which at 200k rows was most of its gap to the
COPY floor (bench/RESULTS.md). Every other invocation, and `atlas4d.cli.app`, has all the groups.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

GROUPS = ("serve", "db", "demo", "federation", "modules", "ingest", "auth", "connect")
HELP = "Atlas4D Gateway"


def build(groups: tuple[str, ...] = GROUPS) -> typer.Typer:
    """The app with the command groups `groups` (sub-modules of atlas4d.cli, each with a `register`)."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, help=HELP)
    if len(groups) == 1:

        @app.callback()
        def root() -> None:  # keeps the command a sub-command (`atlas4d ingest FILE`) when it is alone
            pass

    for name in groups:
        importlib.import_module(f"atlas4d.cli.{name}").register(app)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # built on first use, with every group
        app = globals()["app"] = build()
        return app
    raise AttributeError(name)


def main() -> None:
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    build(("ingest",) if command == "ingest" else GROUPS)()
