"""`atlas4d db …`: the embedded cluster, migrations, the Burgas demo and benchmark data."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import asyncpg
import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from atlas4d.db.check import CheckReport, check_database
from atlas4d.db.embedded import EmbeddedCluster, database_url
from atlas4d.db.migrate import Migration, core_migrations, load_migrations, pending
from atlas4d.db.pool import connect, create_pool, migrate_database
from atlas4d.errors import Atlas4DError
from atlas4d.settings import Settings

T = TypeVar("T")


def _run(console: Console, work: Callable[[], Awaitable[T]]) -> T:
    """Run async work; a domain error (bad migration, database down) ends the command with its message."""
    try:
        return asyncio.run(_awaited(work))
    except Atlas4DError as exc:
        console.print(f"[bold red]error[/] [{exc.code}] {exc.message}")
        raise typer.Exit(1) from None
    except (OSError, asyncpg.PostgresError) as exc:
        console.print(f"[bold red]error[/] [DATABASE_UNAVAILABLE] {exc}")
        raise typer.Exit(1) from None


async def _awaited(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


async def _connection(settings: Settings) -> asyncpg.Connection:
    return await connect(settings, database_url(settings))


async def _migrate(settings: Settings, migrations: list[Migration]) -> list[Migration]:
    return await migrate_database(settings, database_url(settings), migrations)


async def _pending(settings: Settings, migrations: list[Migration]) -> list[Migration]:
    conn = await _connection(settings)
    try:
        return await pending(conn, migrations)
    finally:
        await conn.close()


def register(app: typer.Typer) -> None:
    """Add the `db` command group to the `atlas4d` app."""
    db = typer.Typer(
        no_args_is_help=True, help="The database: embedded cluster, migrations, demo and benchmark data."
    )
    app.add_typer(db, name="db")
    console = Console()

    def cluster_or_exit(settings: Settings, action: str) -> EmbeddedCluster | None:
        if settings.database_url:
            console.print(f"ATLAS4D_DATABASE_URL is set: the database is external, nothing to {action}.")
            return None
        return EmbeddedCluster.from_settings(settings)

    @db.command()
    def start() -> None:
        """Start the embedded PostgreSQL (initialising it on first use)."""
        cluster = cluster_or_exit(Settings(), "start")
        if cluster is None:
            return
        try:
            cluster.start()
        except Atlas4DError as exc:
            console.print(f"[bold red]error[/] [{exc.code}] {exc.message}")
            raise typer.Exit(1) from None
        console.print(f"[green]running[/] {cluster.url} (data in {cluster.data_dir})")

    @db.command()
    def stop() -> None:
        """Stop the embedded PostgreSQL (a fast shutdown; data is kept)."""
        cluster = cluster_or_exit(Settings(), "stop")
        if cluster is None:
            return
        cluster.stop()
        console.print(f"[yellow]stopped[/] (data kept in {cluster.data_dir})")

    @db.command()
    def status() -> None:
        """Show whether the embedded PostgreSQL is initialised and running."""
        settings = Settings()
        if settings.database_url:
            console.print("external database (ATLAS4D_DATABASE_URL)")
            return
        info = EmbeddedCluster.from_settings(settings).status()
        table = Table(show_header=False, box=None)
        for key, value in info.items():
            table.add_row(key, str(value))
        console.print(table)
        console.print("[green]running[/]" if info["running"] else "[yellow]not running[/]")

    @db.command("migrate")
    def migrate_command(
        module: Annotated[str, typer.Option(help="Module name to record the migrations under.")] = "core",
        folder: Annotated[
            Path | None, typer.Option(help="Folder of NNNN_name.sql files (default: the core migrations).")
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="List what would be applied (and how), change nothing.")
        ] = False,
        sql: Annotated[
            bool, typer.Option("--sql", help="With --dry-run: print each pending file's SQL too.")
        ] = False,
    ) -> None:
        """Apply the migrations that are missing; refuse if an applied one was edited."""
        if folder is not None and not folder.is_dir():
            console.print(f"[bold red]error[/] {folder} is not a folder")
            raise typer.Exit(2)
        if folder is not None:
            migrations = load_migrations(module, folder)
        else:  # core and every enabled module
            from atlas4d.app import all_migrations
            from atlas4d.modules.registry import ModuleError, enabled_modules

            try:
                migrations = all_migrations(enabled_modules(Settings()))
            except ModuleError as exc:
                console.print(f"[bold red]error[/] {exc}")
                raise typer.Exit(1) from exc
        if dry_run:
            todo = _run(console, lambda: _pending(Settings(), migrations))
            for m in todo:
                console.print(f"[cyan]would apply[/] {m.module}/{m.version} ({m.kind})")
                if sql:
                    console.print(m.sql, markup=False, highlight=False)
            console.print(f"{len(todo)} of {len(migrations)} migrations pending; nothing was changed")
            return
        applied = _run(console, lambda: _migrate(Settings(), migrations))
        for m in applied:
            console.print(f"[green]applied[/] {m.module}/{m.version}")
        if not applied:
            console.print(f"up to date ({len(migrations)} migrations)")

    @db.command()
    def seed(
        scale: Annotated[int, typer.Option("--scale", min=0, help="Observations to write.")],
        entities: Annotated[int, typer.Option(min=1, help="Moving entities.")] = 1000,
        days: Annotated[int, typer.Option(min=1, help="Days of history, ending this hour.")] = 7,
        seed: Annotated[int, typer.Option(help="Random seed; seeding again with it replaces its rows.")] = 1,
        workers: Annotated[int, typer.Option(min=1, max=16, help="Parallel COPY connections.")] = 4,
    ) -> None:
        """Write benchmark data around Burgas (lon 27..28, lat 42..43)."""
        from atlas4d.demo import seed_scale

        settings = Settings()
        columns = (
            TextColumn("[bold]seeding"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
            TimeElapsedColumn(), TimeRemainingColumn(),
        )  # fmt: skip

        async def work() -> None:
            await _migrate(settings, core_migrations())
            sized = settings.model_copy(update={"pool_min_size": 1, "pool_max_size": workers})
            pool = await create_pool(sized, database_url(settings))
            try:
                with Progress(*columns, console=console) as progress:
                    task = progress.add_task("seed", total=scale)
                    summary = await seed_scale(
                        pool, observations=scale, entities=entities, days=days, seed=seed,
                        progress=lambda n: progress.advance(task, n),
                    )  # fmt: skip
            finally:
                await pool.close()
            rate = summary.observations / summary.seconds if summary.seconds else 0.0
            console.print(
                f"[green]seeded[/] {summary.observations:,} observations, {summary.entities:,} entities, "
                f"{summary.tracks:,} tracks from {summary.start:%Y-%m-%d %H:%M} to {summary.end:%Y-%m-%d %H:%M} UTC "
                f"in {summary.seconds:.1f} s ({rate:,.0f} rows/s)"
            )

        _run(console, work)

    @db.command()
    def demo(
        seed: Annotated[int, typer.Option(help="Random seed of the scenario.")] = 42,
        end: Annotated[
            datetime | None,
            typer.Option(
                help="End of the 24 h window, UTC (default: this hour).",
                formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"],
            ),
        ] = None,
    ) -> None:
        """Load the Burgas demo (replacing a previous one): vehicles, the access network, anomalies."""
        from datetime import UTC

        from atlas4d.demo import load_burgas

        settings = Settings()

        async def work() -> None:
            await _migrate(settings, core_migrations())
            conn = await _connection(settings)
            try:
                summary = await load_burgas(conn, seed=seed, end=end.replace(tzinfo=UTC) if end else None)
            finally:
                await conn.close()
            table = Table(title=f"Burgas demo (seed {summary.seed})", show_header=False)
            table.add_row("window", f"{summary.start:%Y-%m-%d %H:%M} → {summary.end:%Y-%m-%d %H:%M} UTC")
            table.add_row("entities", f"{summary.vehicles} vehicles, {summary.network_nodes} network nodes")
            table.add_row(
                "observations",
                f"{summary.observations:,} ({summary.vehicle_observations:,} vehicle, "
                f"{summary.network_observations:,} network)",
            )
            table.add_row("tracks", f"{summary.tracks:,}")
            table.add_row("anomalies", f"{summary.anomalies}")
            table.add_row("replaced", f"{summary.replaced_observations:,} previous demo observations")
            console.print(table)

        _run(console, work)

    @db.command()
    def check(
        tolerance_m: Annotated[
            float, typer.Option(min=0, help="Report geom vs lat/lon further apart than this (metres).")
        ] = 1.0,
        examples: Annotated[int, typer.Option(min=0, help="Rows listed per problem.")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    ) -> None:
        """Report rows the gateway serves differently from their raw columns (exit 1 on problems).

        Read-only; works on an original Atlas4D database before or after `atlas4d db migrate`."""
        settings = Settings()

        async def work() -> CheckReport:
            conn = await _connection(settings)
            try:
                return await check_database(conn, tolerance_m, examples)
            finally:
                await conn.close()

        report = _run(console, work)
        if as_json:
            sys.stdout.write(orjson.dumps(report.as_json()).decode() + "\n")
        else:
            _print_check(console, report)
        if report.problems:
            raise typer.Exit(1)

    @db.command()
    def adopt(
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
        link_observations: Annotated[
            bool,
            typer.Option(
                "--link-observations",
                help="Also write each adopted track's entity into its observations' empty entity_id "
                "(the one change to the original's rows; in batches of whole tracks).",
            ),
        ] = False,
    ) -> None:
        """Derive entities and tracks from an existing Atlas4D database's observations (idempotent).

        Migrates first; writes only atlas4d.entities and atlas4d.tracks, never the original's rows unless
        --link-observations (docs/core-spec-compat.md says what is inferred and how)."""
        from atlas4d.db.adopt import AdoptReport, adopt_database

        settings = Settings()

        async def work() -> AdoptReport:
            await _migrate(settings, core_migrations())
            conn = await _connection(settings)
            try:
                return await adopt_database(conn, link_observations)
            finally:
                await conn.close()

        report = _run(console, work)
        if as_json:
            sys.stdout.write(orjson.dumps(report.as_json()).decode() + "\n")
            return
        table = Table(title="atlas4d db adopt", show_header=False)
        rules = ", ".join(f"{n:,} by {rule}" for rule, n in sorted(report.entities_by_rule.items()))
        table.add_row("entities created", f"{report.entities_created:,}" + (f" ({rules})" if rules else ""))
        table.add_row("tracks refreshed", f"{report.tracks_refreshed:,}")
        table.add_row("tracks linked to an entity", f"{report.tracks_linked:,}")
        if link_observations:
            table.add_row("observations linked to an entity", f"{report.observations_linked:,}")
        table.add_row("entities / tracks now", f"{report.entities_total:,} / {report.tracks_total:,}")
        console.print(table)
        written = (
            report.entities_created
            + report.tracks_refreshed
            + report.tracks_linked
            + report.observations_linked
        )
        console.print("[green]adopted[/]" if written else "already adopted: nothing to write")

    register_partitioning(db, console)


def register_partitioning(db: typer.Typer, console: Console) -> None:
    """`atlas4d db partition` and `atlas4d db maintain` (atlas4d.db.partition; docs/scaling.md §3)."""

    @db.command()
    def partition(
        interval: Annotated[
            str | None, typer.Option(help="day, week, month or year (default: ATLAS4D_PARTITION_INTERVAL).")
        ] = None,
        ahead: Annotated[
            int | None,
            typer.Option(min=0, help="Partitions past the current one (default: ATLAS4D_PARTITIONS_AHEAD)."),
        ] = None,
        batch_rows: Annotated[int, typer.Option(min=100, help="Ids copied per transaction.")] = 50_000,
        lock_timeout_ms: Annotated[
            int, typer.Option(min=10, help="Longest wait for a lock before stepping aside and retrying.")
        ] = 2_000,
        drop_old: Annotated[
            bool, typer.Option("--drop-old", help="Drop the unpartitioned table after the swap.")
        ] = False,
        restart: Annotated[
            bool, typer.Option("--restart", help="Abandon an unfinished conversion and start again.")
        ] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Say what would be done, change nothing.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    ) -> None:
        """Convert atlas4d.observations_core to RANGE(t) partitions online (resumable; writes continue)."""
        from atlas4d.db.partition import INTERVALS, ConversionReport, abandon, convert

        settings = Settings()
        chosen = interval or settings.partition_interval
        if chosen not in INTERVALS:
            console.print(f"[bold red]error[/] --interval must be one of {', '.join(INTERVALS)}")
            raise typer.Exit(2)
        columns = (
            TextColumn("[bold]copying"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
            TimeElapsedColumn(), TimeRemainingColumn(),
        )  # fmt: skip

        async def work() -> ConversionReport:
            await _migrate(settings, core_migrations())
            conn = await _connection(settings)
            try:
                if restart and not dry_run:
                    await abandon(conn)
                with Progress(*columns, console=console, disable=as_json or dry_run, transient=True) as bar:
                    task = bar.add_task("copy", total=None)
                    return await convert(
                        conn, interval=chosen,
                        ahead=settings.partitions_ahead if ahead is None else ahead,
                        batch_rows=batch_rows, drop_old=drop_old, dry_run=dry_run,
                        lock_timeout_ms=lock_timeout_ms,
                        progress=lambda done, total: bar.update(task, completed=done, total=total),
                    )  # fmt: skip
            finally:
                await conn.close()

        report = _run(console, work)
        if as_json:
            sys.stdout.write(orjson.dumps(report).decode() + "\n")
        else:
            for step in report.steps:
                console.print(f"[cyan]{'would' if dry_run else 'plan'}[/] {step}")
            for item in report.not_carried:
                console.print(f"[yellow]not carried over[/] {item}")
            for item in report.refused:
                console.print(f"[bold red]refused[/] {item}")
            if report.outcome == "converted":
                console.print(
                    f"[green]converted[/] {report.rows_verified:,} rows verified ({report.rows_copied:,} copied in "
                    f"{report.copy_seconds:.1f} s), {report.partitions_created} partitions; swap held the lock "
                    f"{report.lock_ms:.0f} ms (attempt {report.swap_attempts}); {report.seconds:.1f} s in all"
                )
            elif report.outcome != "dry-run":
                console.print(
                    f"[yellow]{report.outcome}[/]: nothing to do" if report.outcome != "refused" else ""
                )
        if report.outcome == "refused":
            raise typer.Exit(1)

    @db.command()
    def maintain(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Say what would be done, change nothing.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    ) -> None:
        """Create the next partitions; drop those older than ATLAS4D_RETENTION (safe on many replicas)."""
        from atlas4d.db.partition import Duration, MaintainReport, partitions
        from atlas4d.db.partition import maintain as run_maintain

        settings = Settings()
        retention = Duration.parse(settings.retention) if settings.retention else None

        async def work() -> tuple[MaintainReport, list[tuple[str, str, int]]]:
            conn = await _connection(settings)
            try:
                report = await run_maintain(
                    conn, retention=retention, ahead=settings.partitions_ahead, dry_run=dry_run
                )
                parts = [
                    (p.name, f"{p.start:%Y-%m-%d} .. {p.end:%Y-%m-%d}" if p.start and p.end else "DEFAULT",
                     p.rows_estimate)
                    for p in await partitions(conn)
                ]  # fmt: skip
                return report, parts
            finally:
                await conn.close()

        report, parts = _run(console, work)
        if as_json:
            document = {
                "report": report,
                "partitions": [{"name": n, "range": r, "rows_estimate": e} for n, r, e in parts],
            }
            sys.stdout.write(orjson.dumps(document).decode() + "\n")
            return
        verb = "would " if dry_run else ""
        for name in report.created:
            moved = (
                f" (moving its {report.moved[name]:,} rows out of DEFAULT)" if name in report.moved else ""
            )
            console.print(f"[green]{verb}create[/] {name}{moved}")
        for name in report.dropped:
            console.print(
                f"[red]{verb}drop[/] {name} (older than {settings.retention}, cutoff {report.cutoff})"
            )
        for item in report.skipped:
            console.print(f"[yellow]skipped[/] {item}")
        if report.default_rows_deleted or report.tracks_deleted or report.tracks_refreshed:
            console.print(
                f"deleted {report.default_rows_deleted:,} expired rows of the DEFAULT partition, "
                f"{report.tracks_deleted:,} tracks, {report.ingest_keys_deleted:,} ingest keys; "
                f"refreshed {report.tracks_refreshed:,} tracks"
            )
        if report.outcome == "not partitioned":
            console.print(
                "[yellow]not partitioned[/]: nothing to maintain"
                + (
                    f"; ATLAS4D_RETENTION={settings.retention} needs `atlas4d db partition` first"
                    if retention
                    else ""
                )
            )
            return
        if report.outcome == "busy":
            console.print("busy: another `atlas4d db maintain` holds the lock; skipped")
            return
        listing = Table(title="atlas4d.observations_core partitions")
        for column in ("partition", "range (UTC)", "rows (estimate)"):
            listing.add_column(column)
        for name, span, estimate in parts:
            listing.add_row(name, span, f"{estimate:,}")
        console.print(listing)
        console.print(f"{report.outcome}; {len(parts)} partitions")


def _print_check(console: Console, report: CheckReport) -> None:
    table = Table(title="atlas4d db check", show_header=False)
    for key, value in report.counts.items():
        style = "bold red" if key in report.problems else ""
        table.add_row(key, f"[{style}]{value:,}[/]" if style else f"{value:,}")
    console.print(table)
    if report.disagreements:
        rows = Table(
            title=f"geom and lat/lon more than {report.tolerance_m:g} m apart (served from geom; "
            f"{report.counts['geom_latlon_disagree']:,} rows, max {report.max_distance_m or 0:,.1f} m)"
        )
        for column in ("id", "t", "source_type", "geom lon,lat", "lat/lon columns", "metres"):
            rows.add_column(column)
        for d in report.disagreements:
            rows.add_row(
                str(d.id), d.t.isoformat(), d.source_type or "", f"{d.geom_lon:.6f},{d.geom_lat:.6f}",
                f"{d.lon:.6f},{d.lat:.6f}", f"{d.distance_m:,.1f}",
            )  # fmt: skip
        console.print(rows)
    if report.problems:
        console.print(f"[bold red]problems[/] {', '.join(report.problems)}")
    else:
        console.print("[green]no problems[/]")
