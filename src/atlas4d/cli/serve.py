"""`atlas4d serve` and `atlas4d schema print`."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from starlette.applications import Starlette

from atlas4d.settings import Settings

FIRST_QUERY = """{
  entities(filter: {kinds: ["vehicle"]}, first: 5) {
    nodes {
      name
      kind
      latestObservation { time lon lat speed }
    }
  }
}"""


def register(app: typer.Typer) -> None:
    schema_app = typer.Typer(no_args_is_help=True, help="Schema artifacts.")
    app.add_typer(schema_app, name="schema")

    @app.command()
    def serve(
        host: str | None = typer.Option(None, help="Bind address (default ATLAS4D_HOST, 127.0.0.1)."),
        port: int | None = typer.Option(None, help="Port (default ATLAS4D_PORT, 4000)."),
        workers: int | None = typer.Option(None, help="uvicorn worker processes."),
        subgraph: str | None = typer.Option(
            None, help="Serve only this subgraph (core or a module) at /graphql, for another gateway to call."
        ),
    ) -> None:
        """Serve GraphQL (GraphiQL in a browser), the Core Spec REST endpoints and /health."""
        import uvicorn

        from atlas4d.db.embedded import database_url

        settings = Settings()
        updates = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
        settings = settings.model_copy(update=updates)
        from atlas4d.observe.setup import prepare_workers, setup_logging

        prepare_workers(settings)  # before anything imports prometheus_client
        setup_logging(settings)
        database_url(settings)  # start the embedded cluster once, before workers fork
        if subgraph is not None:
            os.environ["ATLAS4D_SERVE_SUBGRAPH"] = subgraph
            try:
                app_from_env()  # fail fast on an unknown name, before uvicorn starts
            except ValueError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from exc
        console = Console(stderr=True)
        console.print(f"[bold green]Atlas4D Gateway[/] on http://{settings.host}:{settings.port}/graphql")
        console.print("Open it in a browser for GraphiQL, and try:\n")
        console.print(FIRST_QUERY, highlight=False)
        uvicorn.run(
            "atlas4d.cli.serve:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level.lower(),
            log_config=None,  # our handler renders uvicorn's records too (atlas4d.observe.logs)
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_timeout_s,
        )

    @schema_app.command("print")
    def print_schema(
        subgraph: str = typer.Argument(
            "core",
            help="`core` (the core subgraph's SDL) or `api` (the schema /graphql serves, for clients).",
        ),
    ) -> None:
        """Print an SDL: the core subgraph's, or `api`, the public schema of core and the enabled modules
        (what codegen should read; graphql/schema.graphql is it with every installed module)."""
        if subgraph == "api":
            from atlas4d.modules.registry import enabled_modules
            from atlas4d.platform import api_sdl

            sys.stdout.write(api_sdl(enabled_modules(Settings())))
            return
        if subgraph != "core":
            typer.echo(f"unknown schema {subgraph!r}; known: core, api", err=True)
            raise typer.Exit(2)
        sys.stdout.write(core_sdl())


def core_sdl() -> str:
    from atlas4d.core.schema import build_core_schema

    return build_core_schema().as_str() + "\n"


def app_from_env() -> Starlette:
    """uvicorn factory: each worker builds its own app from the environment."""
    from atlas4d.app import create_app
    from atlas4d.observe.setup import setup_logging

    settings = Settings()
    setup_logging(settings)  # in each worker process
    return create_app(settings, subgraph=os.environ.get("ATLAS4D_SERVE_SUBGRAPH"))
