"""`atlas4d demo`: migrate, load the Burgas scenario of core and of each chosen module."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from atlas4d.settings import Settings

console = Console()


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        modules: Annotated[
            str | None,
            typer.Option(help="Comma-separated modules whose scenario to load (default: the enabled ones)."),
        ] = None,
        seed: Annotated[int, typer.Option(help="Random seed of the scenarios.")] = 42,
    ) -> None:
        """Load the Burgas demo: core (vehicles, access network, anomalies) and the modules' scenarios."""
        from atlas4d.app import all_migrations
        from atlas4d.db.embedded import database_url
        from atlas4d.db.pool import connect, migrate_database
        from atlas4d.demo import load_burgas
        from atlas4d.modules.registry import ModuleError, discover, enabled_modules

        settings = Settings()
        try:
            if modules is None:
                chosen = enabled_modules(settings)
            else:
                found = discover()
                names = [n.strip() for n in modules.split(",") if n.strip() and n.strip() != "none"]
                unknown = [n for n in names if n not in found]
                if unknown:
                    raise ModuleError(
                        f"unknown module(s): {', '.join(unknown)} (installed: {', '.join(sorted(found))})"
                    )
                chosen = [found[n].module for n in names]
        except ModuleError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from exc

        async def work() -> list[tuple[str, str]]:
            url = database_url(settings)
            # migrate first, on a connection of its own: this one must open knowing PostGIS's types
            await migrate_database(settings, url, all_migrations(chosen))
            conn = await connect(settings, url)
            try:
                core = await load_burgas(conn, seed=seed)
                rows = [
                    (
                        "core",
                        f"{core.observations:,} observations, {core.vehicles} vehicles, "
                        f"{core.network_nodes} network nodes, {core.tracks:,} tracks, {core.anomalies} anomalies",
                    )
                ]
                for m in chosen:
                    if m.seed is None:
                        continue
                    summary = await m.seed(conn, seed)
                    rows.append((m.name, ", ".join(f"{v:,} {k}" for k, v in summary.rows.items())))
                return rows
            finally:
                await conn.close()

        rows = asyncio.run(work())
        table = Table("scenario", "loaded", title="Burgas demo")
        for name, text in rows:
            table.add_row(name, text)
        console.print(table)
