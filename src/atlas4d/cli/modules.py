"""`atlas4d module list|info|check|enable|disable|install|search`."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from atlas4d import __version__
from atlas4d.db.migrate import load_migrations, migrate, migration_states
from atlas4d.modules.contract import Module
from atlas4d.modules.registry import (
    Discovered,
    ModuleError,
    check,
    discover,
    is_enabled,
    read_state,
    write_state,
)
from atlas4d.settings import Settings

console = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def _discover() -> dict[str, Discovered]:
    try:
        return discover()
    except ModuleError as exc:
        raise _fail(str(exc)) from exc


def _get(name: str, found: dict[str, Discovered]) -> Discovered:
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise _fail(
            f"no module named {name!r} is installed (installed: {known}); try `atlas4d module search {name}`"
        )
    return found[name]


async def _migration_state(settings: Settings, modules: list[Module]) -> dict[str, str]:
    from atlas4d.db.embedded import database_url
    from atlas4d.db.pool import connect

    conn = await connect(settings, database_url(settings))
    try:
        out = {}
        for m in modules:
            if m.migrations is None:
                out[m.name] = "none"
                continue
            states = await migration_states(conn, load_migrations(m.name, m.migrations))
            applied = sum(s.applied for s in states)
            out[m.name] = "up to date" if applied == len(states) else f"{applied}/{len(states)} applied"
        return out
    finally:
        await conn.close()


async def _migrate_module(settings: Settings, module: Module) -> list[str]:
    """Apply a module's migrations; if it had none applied before and one fails, drop what it made."""
    from atlas4d.db.embedded import database_url
    from atlas4d.db.pool import connect

    if module.migrations is None:
        return []
    migrations = load_migrations(module.name, module.migrations)
    conn = await connect(settings, database_url(settings))
    try:
        fresh = not any(s.applied for s in await migration_states(conn, migrations))
        try:
            return [m.version for m in await migrate(conn, migrations)]
        except Exception:
            if fresh:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{module.db_schema}" CASCADE')
                await conn.execute("DELETE FROM atlas4d.schema_migrations WHERE module = $1", module.name)
            raise
    finally:
        await conn.close()


def register(app: typer.Typer) -> None:
    mod = typer.Typer(no_args_is_help=True, help="Modules: list, inspect, enable, install.")
    app.add_typer(mod, name="module")

    @mod.command("list")
    def list_(db: bool = typer.Option(True, help="Show migration state (needs the database).")) -> None:
        """Installed modules: name, version, enabled, migration state."""
        settings = Settings()
        found = _discover()
        state = read_state(settings)
        migrations = asyncio.run(_migration_state(settings, [d.module for d in found.values()])) if db else {}
        table = Table("module", "version", "enabled", "migrations", "core", "description")
        for name in sorted(found):
            m = found[name].module
            problems = m.problems(__version__)
            table.add_row(
                name,
                m.version,
                "yes" if is_enabled(name, settings, state) else "no",
                migrations.get(name, "-"),
                "[red]incompatible[/]" if problems else m.core_versions,
                m.description,
            )
        console.print(table)

    @mod.command()
    def info(name: str) -> None:
        """Everything a module declares (its MODULE.yaml)."""
        import yaml

        from atlas4d.modules.manifest import to_manifest

        d = _get(name, _discover())
        manifest = to_manifest(d.module)
        manifest["distribution"] = d.distribution
        console.print(yaml.safe_dump(manifest, sort_keys=False), highlight=False)

    @mod.command("check")
    def check_(name: str) -> None:
        """Core compatibility, manifest, and composition with the enabled modules."""
        settings = Settings()
        found = _discover()
        d = _get(name, found)
        enabled = {n for n in found if is_enabled(n, settings)} | {name}
        problems = check(d.module, found, enabled)
        problems.extend(_manifest_problems(d.module))
        problems.extend(_composition_problems([found[n].module for n in sorted(enabled)]))
        if problems:
            for p in problems:
                err.print(f"[red]✗[/] {p}")
            raise typer.Exit(1)
        console.print(
            f"[green]✓[/] {name} {d.module.version}: compatible with core {__version__}, composes with "
            f"{', '.join(sorted(enabled - {name})) or 'core alone'}"
        )

    @mod.command()
    def enable(name: str) -> None:
        """Enable a module (taken into account at the next start)."""
        settings = Settings()
        found = _discover()
        d = _get(name, found)
        state = read_state(settings)
        enabled = {n for n in found if is_enabled(n, settings, state)} | {name}
        problems = check(d.module, found, enabled)
        if problems:
            raise _fail("; ".join(problems))
        state[name] = True
        write_state(settings, state)
        console.print(f"enabled {name}; restart the server to serve it")

    @mod.command()
    def disable(name: str) -> None:
        """Disable a module (its data stays; taken into account at the next start)."""
        settings = Settings()
        found = _discover()
        _get(name, found)
        state = read_state(settings)
        dependants = [
            n for n, d in found.items() if name in d.module.requires and is_enabled(n, settings, state)
        ]
        if dependants:
            raise _fail(f"{', '.join(dependants)} require(s) {name}; disable them first")
        state[name] = False
        write_state(settings, state)
        console.print(f"disabled {name}; restart the server to stop serving it")

    @mod.command()
    def install(
        target: str = typer.Argument(..., help="A path, a wheel, or a package name pip can install."),
    ) -> None:
        """pip install a module package, check it, migrate it. Nothing is left behind on failure."""
        from atlas4d.modules.install import install as pip_install
        from atlas4d.modules.install import uninstall

        settings = Settings()
        try:
            new, dists = pip_install(target)
        except ModuleError as exc:
            raise _fail(str(exc)) from exc
        for d in new:
            try:
                applied = asyncio.run(_migrate_module(settings, d.module))
            except Exception as exc:
                uninstall(dists)
                raise _fail(f"migrating {d.module.name} failed, install rolled back: {exc}") from exc
            console.print(
                f"installed {d.module.name} {d.module.version} ({d.distribution}); "
                f"migrations applied: {', '.join(applied) or 'none needed'}"
            )

    @mod.command()
    def search(
        term: str,
        index: str | None = typer.Option(
            None, help="A module index (JSON file or URL); default: the built-in one."
        ),
    ) -> None:
        """Search a module index."""
        from atlas4d.modules.install import search as index_search

        try:
            hits = index_search(term, index)
        except ModuleError as exc:
            raise _fail(str(exc)) from exc
        installed = _discover()
        table = Table("module", "version", "category", "installed", "description")
        for h in hits:
            table.add_row(
                str(h["name"]),
                str(h.get("version", "")),
                str(h.get("category", "")),
                "yes" if h["name"] in installed else "no",
                str(h.get("description", "")),
            )
        console.print(table if hits else f"no module matches {term!r}")


def _manifest_problems(module: Module) -> list[str]:
    """A MODULE.yaml shipped next to the module's migrations must agree with the module object."""
    from pathlib import Path

    from atlas4d.modules.manifest import ManifestError, manifest_matches, read_manifest

    if module.migrations is None:
        return []
    path = Path(str(module.migrations)).parent / "MODULE.yaml"
    if not path.exists():
        return []
    try:
        return manifest_matches(module, read_manifest(path))
    except ManifestError as exc:
        return [str(exc)]


def _composition_problems(modules: list[Module]) -> list[str]:
    from atlas4d.federation.compose import CompositionError
    from atlas4d.platform import compose_local

    try:
        compose_local(modules)
    except CompositionError as exc:
        return [f"composition with the enabled modules fails: {exc}"]
    return []
