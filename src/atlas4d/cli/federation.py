"""Federation commands: `compose`, `gateway`, `plan`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from starlette.applications import Starlette

DEFAULT_ROUTING = "http://127.0.0.1:4000/subgraphs/{name}/graphql"


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise typer.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint=option)
        pairs[name] = rest
    return pairs


def compose_command(
    subgraph: Annotated[
        list[str] | None,
        typer.Option("--subgraph", "-s", help="NAME=SDL_FILE or NAME=URL (the SDL is read from _service)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    routing_url: Annotated[
        list[str] | None,
        typer.Option("--routing-url", help="NAME=URL the gateway calls, for subgraphs given as files."),
    ] = None,
    remote: Annotated[
        list[str] | None,
        typer.Option("--remote", help="NAME=URL of a running subgraph (same as --subgraph NAME=URL)."),
    ] = None,
    module: Annotated[
        list[str] | None,
        typer.Option(
            "--module",
            "-m",
            help="An installed module (core is always included); `--module all` for every one.",
        ),
    ] = None,
    base_url: Annotated[
        str, typer.Option(help="Where `atlas4d serve` runs: core and module subgraphs are routed under it.")
    ] = "http://127.0.0.1:4000",
) -> None:
    """Compose subgraph SDLs into a Federation 2 supergraph in Apollo's format.

    With --module (or no subgraph at all), core and the named modules are included from this installation,
    routed to BASE_URL/subgraphs/NAME/graphql, so Apollo Router or Hive Gateway can serve `atlas4d serve`."""
    from atlas4d.federation.compose import CompositionError, SubgraphSource, compose
    from atlas4d.federation.gateway import fetch_sdl
    from atlas4d.federation.subgraph import subgraph_sdl

    sources = {**_pairs(subgraph or [], "--subgraph"), **_pairs(remote or [], "--remote")}
    routes = _pairs(routing_url or [], "--routing-url")
    subgraphs = []
    if module is not None or not sources:
        for name, schema in _local_schemas(module or []).items():
            url = f"{base_url.rstrip('/')}/subgraphs/{name}/graphql"
            subgraphs.append(SubgraphSource(name, routes.get(name, url), subgraph_sdl(schema)))
    for name, where in sources.items():
        if where.startswith(("http://", "https://")):
            subgraphs.append(SubgraphSource(name, routes.get(name, where), fetch_sdl(where)))
        else:
            url = routes.get(name, DEFAULT_ROUTING.format(name=name))
            subgraphs.append(SubgraphSource(name, url, Path(where).read_text()))
    try:
        supergraph = compose(subgraphs)
    except CompositionError as exc:
        for issue in exc.errors:
            typer.echo(f"{issue.code}: {issue.message}", err=True)
        raise typer.Exit(1) from exc
    if output is None:
        typer.echo(supergraph)
    else:
        output.write_text(supergraph + "\n")
        typer.echo(f"wrote {output} ({len(subgraphs)} subgraphs)", err=True)


def _local_schemas(names: list[str]) -> dict[str, object]:
    """Core plus the named installed modules (`all`: every installed one)."""
    from atlas4d.modules.registry import ModuleError, discover
    from atlas4d.platform import local_schemas

    try:
        found = discover()
    except ModuleError as exc:
        raise typer.BadParameter(str(exc), param_hint="--module") from exc
    wanted = sorted(found) if "all" in names else [n for n in names if n != "core"]
    unknown = [n for n in wanted if n not in found]
    if unknown:
        known = ", ".join(sorted(found)) or "none"
        raise typer.BadParameter(
            f"unknown module(s) {', '.join(unknown)} (installed: {known})", param_hint="--module"
        )
    return dict(local_schemas([found[n].module for n in wanted]))


GATEWAY_ARGS_ENV = "_ATLAS4D_GATEWAY_ARGS"  # how `gateway` hands its options to uvicorn's worker processes


def gateway_command(
    supergraph: Annotated[Path, typer.Option("--supergraph", help="Supergraph SDL (Apollo format).")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 4000,
    introspection: Annotated[
        bool | None,
        typer.Option(help="Allow introspection queries (default: ATLAS4D_INTROSPECTION; off in production)."),
    ] = None,
    graphiql: Annotated[
        bool | None,
        typer.Option(help="Serve GraphiQL on GET /graphql (default: ATLAS4D_GRAPHIQL; off in production)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Subgraph request timeout, seconds.")] = 30.0,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Worker processes (each with its own plan cache and connection pool)."
        ),
    ] = 1,
    max_connections: Annotated[
        int, typer.Option(min=1, help="Pooled HTTP connections to the subgraphs, per worker.")
    ] = 100,
) -> None:
    """Serve any Federation 2 supergraph; subgraphs are called at the URLs the file names.

    With --workers N, N processes share the port (uvicorn workers); use as many as the machine has cores."""
    import uvicorn

    from atlas4d.federation.errors import SupergraphError
    from atlas4d.federation.supergraph import Supergraph
    from atlas4d.settings import Settings

    path = supergraph.resolve()
    try:
        Supergraph.parse(path.read_text())  # fail fast on a bad file, before binding the port
    except (OSError, SupergraphError) as exc:
        code = getattr(exc, "code", "INVALID_SUPERGRAPH")
        typer.echo(f"{code}: {exc}", err=True)
        raise typer.Exit(1) from exc
    from atlas4d.observe.setup import prepare_workers, setup_logging

    settings = Settings().model_copy(update={"workers": workers})
    prepare_workers(settings)
    setup_logging(settings)
    os.environ[GATEWAY_ARGS_ENV] = json.dumps(
        {
            "supergraph": str(path),
            "introspection": introspection,
            "graphiql": graphiql,
            "timeout": timeout,
            "max_connections": max_connections,
        }
    )
    # like `atlas4d serve`: no access log line per request (it costs the hot path; put a proxy in front to log)
    uvicorn.run(
        "atlas4d.cli.federation:gateway_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=None,  # atlas4d.observe.logs renders uvicorn's records
        access_log=False,
        timeout_graceful_shutdown=Settings().shutdown_timeout_s,
    )


def gateway_app_from_env() -> Starlette:
    """uvicorn factory: each worker builds its own gateway from the options `gateway` left in the environment."""
    from atlas4d.federation.app import create_app
    from atlas4d.federation.gateway import Gateway
    from atlas4d.observe.setup import setup_logging
    from atlas4d.settings import Settings
    from atlas4d.web.subgraph_access import HEADER

    setup_logging(Settings())
    args = json.loads(os.environ[GATEWAY_ARGS_ENV])
    sdl = Path(args["supergraph"]).read_text()
    # options given on the command line win; else ATLAS4D_* (ATLAS4D_ENV=production turns both off)
    settings = Settings()
    chosen = {k: args.get(k) for k in ("introspection", "graphiql") if args.get(k) is not None}
    settings = settings.model_copy(update=chosen)
    secret = settings.subgraph_secret

    def load() -> Gateway:
        return Gateway.from_supergraph(
            sdl,
            timeout=args["timeout"],
            introspection=settings.introspection,
            max_connections=args["max_connections"],
            subgraph_headers={HEADER: secret} if secret else None,
            subscription_urls=settings.subscription_urls,
        )

    return create_app(loader=load, settings=settings)


def plan_command(
    query: Annotated[Path, typer.Argument(help="File with the operation.")],
    supergraph: Annotated[Path, typer.Option("--supergraph", help="Supergraph SDL (Apollo format).")],
    operation_name: Annotated[str | None, typer.Option("--operation", help="Operation to plan.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Print the query plan of an operation."""
    from atlas4d.federation.errors import FederationError
    from atlas4d.federation.gateway import Gateway

    gateway = Gateway.from_supergraph(supergraph.read_text())
    try:
        plan = gateway.plan(query.read_text(), operation_name)
    except FederationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(plan.to_json(), indent=2) if as_json else plan.to_text())


def register(app: typer.Typer) -> None:
    """Add the federation commands to the root CLI."""
    app.command("compose")(compose_command)
    app.command("gateway")(gateway_command)
    app.command("plan")(plan_command)
