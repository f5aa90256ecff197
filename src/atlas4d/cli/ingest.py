"""`atlas4d ingest FILE`: observations from NDJSON or CSV (with a header), validated like the mutation.

All or nothing: one connection loads the whole file in one transaction, entities and tracks included, and
commits only after the last line was validated and written. Any bad line, a database error or an
interrupt rolls everything back, so a failed load can simply be run again. Parsing overlaps the COPY of
the previous chunk within one COPY (`atlas4d.bulk.loader.copy_chunks`), which is what kept a second
connection from paying off (see docs/performance.md); and two connections cannot share one transaction,
which is what all or nothing needs. The command imports only what it needs (see `atlas4d.cli`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from atlas4d.bulk.loader import ChunkWriter, InvalidLines, copy_chunks
from atlas4d.bulk.stream import BulkBody, parsed
from atlas4d.core.ingest import IngestSummary, stored
from atlas4d.db.embedded import database_url
from atlas4d.db.pool import server_settings
from atlas4d.errors import Atlas4DError
from atlas4d.settings import Settings

READ_BYTES = 1024 * 1024
SHOWN_ERRORS = 20


def file_format(path: Path, given: str) -> str:
    if given != "auto":
        return given
    return "csv" if path.suffix.lower() in (".csv", ".tsv") else "ndjson"


def _read(path: Path, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    with path.open("rb") as f:
        while data := f.read(READ_BYTES):
            yield data
            if progress is not None:
                progress(len(data))


async def _pieces(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    for data in pieces:  # a local file: a read blocks for less than parsing its megabyte takes
        yield data


async def ingest_file(
    settings: Settings,
    dsn: str,
    path: Path,
    *,
    csv_format: bool,
    batch: int,
    auto_create_entities: bool = True,
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Load `path` into the database at `dsn` in one transaction; raises `InvalidLines` (nothing stored) on
    any bad line, and any other failure also leaves nothing stored."""
    # no codecs: the rows go as binary COPY encoded here (atlas4d.core.pgcopy), the rest as uuid/text arrays
    conn = await asyncpg.connect(
        dsn, server_settings=server_settings(settings), timeout=settings.db_connect_timeout_s
    )
    try:
        body = BulkBody(csv_format, batch, settings.bulk_max_line_bytes)
        chunks = parsed(body, _pieces(_read(path, progress)))
        async with conn.transaction():
            if auto_create_entities:
                summary = await copy_chunks(conn, chunks)
            else:
                writer = ChunkWriter(conn, auto_create_entities=False)
                try:
                    async for chunk in chunks:
                        await writer.write(chunk)
                    summary = await writer.finish()
                except BaseException:
                    await writer.abort()  # the connection must be idle before the transaction rolls back
                    raise
        stored(summary.accepted)  # committed (a CLI process exports no metrics; kept for one rule)
        return summary
    finally:
        await conn.close()


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        file: Annotated[
            Path, typer.Argument(exists=True, dir_okay=False, help="NDJSON or CSV (with a header).")
        ],
        batch: Annotated[
            int, typer.Option(min=1, max=100_000, help="Lines validated and COPYed at once.")
        ] = 10_000,
        fmt: Annotated[str, typer.Option("--format", help="auto (by extension), ndjson or csv.")] = "auto",
        auto_create_entities: Annotated[
            bool, typer.Option(help="Create entities named by unknown entityId values.")
        ] = True,
    ) -> None:
        """Store observations from FILE: one ObservationInput per line (GraphQL field names), all or nothing
        (one transaction)."""
        console = Console(stderr=True)
        if fmt not in ("auto", "ndjson", "csv"):
            console.print(f"[bold red]error[/] --format must be auto, ndjson or csv, got {fmt!r}")
            raise typer.Exit(2)
        settings = Settings()
        columns = (
            TextColumn("[bold]ingest[/]"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        try:
            dsn = database_url(settings)
            with Progress(*columns, console=console, transient=True) as bar:
                task = bar.add_task("ingest", total=file.stat().st_size)
                began = time.perf_counter()
                summary = asyncio.run(
                    ingest_file(
                        settings,
                        dsn,
                        file,
                        csv_format=file_format(file, fmt) == "csv",
                        batch=batch,
                        auto_create_entities=auto_create_entities,
                        progress=lambda size: bar.advance(task, size),
                    )
                )
        except InvalidLines as exc:
            for error in exc.errors[:SHOWN_ERRORS]:
                field = f", field {error.field}" if error.field else ""
                console.print(
                    f"[bold red]error[/] {file}:{error.line}{field}: {error.message}", highlight=False
                )
            hidden = int(exc.extensions.get("invalidCount", len(exc.errors))) - min(
                len(exc.errors), SHOWN_ERRORS
            )
            if hidden > 0:
                console.print(f"… and {hidden} more")
            console.print("[bold red]nothing was stored[/]")
            raise typer.Exit(1) from None
        except Atlas4DError as exc:
            console.print(f"[bold red]error[/] [{exc.code}] {exc.message}")
            raise typer.Exit(1) from None
        except (OSError, asyncpg.PostgresError) as exc:
            console.print(f"[bold red]error[/] {exc}")
            raise typer.Exit(1) from None
        typer.echo(
            f"accepted {summary.accepted} observations, created {summary.entities_created} entities, "
            f"updated {summary.tracks_updated} tracks "
            f"({summary.accepted / max(time.perf_counter() - began, 1e-9):,.0f} rows/s, one transaction)"
        )
