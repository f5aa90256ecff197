"""`python -m bench.cli ingest FILE …`: the `atlas4d ingest` command on its own Typer app, so the benchmark
runs it whether or not the main CLI registers it yet."""

from __future__ import annotations

import typer

from atlas4d.cli import ingest

app = typer.Typer(add_completion=False)
ingest.register(app)


@app.callback()
def main() -> None:
    """atlas4d (benchmark shim)"""


if __name__ == "__main__":
    app()
