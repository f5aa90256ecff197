"""The `atlas4d` command line: one Typer app, one sub-module per command group."""

from __future__ import annotations

import typer

from atlas4d.cli import auth, connect, db, demo, federation, ingest, modules, serve

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Atlas4D Gateway")
serve.register(app)
db.register(app)
demo.register(app)
federation.register(app)
modules.register(app)
ingest.register(app)
auth.register(app)
connect.register(app)


def main() -> None:
    app()
