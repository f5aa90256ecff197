"""`atlas4d ingest FILE` on real PostGIS: NDJSON and CSV store identical rows, bad lines are reported by
file and line with nothing stored, and a file loads in one transaction: all or nothing."""

from __future__ import annotations

import asyncio
import csv
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
import typer
from typer.testing import CliRunner

from atlas4d.bulk.parse import FIELDS
from atlas4d.cli import ingest

runner = CliRunner()
BASE = datetime(2026, 4, 1, tzinfo=UTC)
ROW_SQL = (
    "SELECT t, ST_AsEWKT(geom), source_type, track_id, entity_id, lat, lon, altitude_m, speed_ms, heading_deg, "
    "metadata FROM atlas4d.observations_core ORDER BY t, lon"
)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str) -> typer.Typer:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("ATLAS4D_DATABASE_URL", database_url)
    app = typer.Typer()
    ingest.register(app)

    @app.callback()
    def main() -> None:
        """atlas4d"""

    return app


def items(n: int, entities: int = 10, tracks: int = 0) -> list[dict[str, Any]]:
    ents = [uuid.UUID(int=1000 + e) for e in range(entities)]
    trks = [uuid.UUID(int=5000 + t) for t in range(tracks)]
    out = []
    for i in range(n):
        it: dict[str, Any] = {
            "time": (BASE + timedelta(seconds=i)).isoformat(),
            "lon": round(27.0 + i * 1e-5, 6),
            "lat": round(42.0 + i * 7e-6, 6),
            "speed": float(i % 30),
            "sourceType": "gps",
            "entityId": str(ents[i % entities]),
        }
        if tracks:
            it["trackId"] = str(trks[i % tracks])
        if i % 7 == 0:
            it.update(
                altitude=float(i % 100),
                heading=float(i % 360),
                sourceType="gps\nrtk",
                metadata={"i": i, "note": 'say "hi",\nbye'},
            )
        out.append(it)
    return out


def write_ndjson(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        for r in rows:
            writer.writerow(
                [
                    "" if r.get(k) is None else orjson.dumps(r[k]).decode() if k == "metadata" else str(r[k])
                    for k in FIELDS
                ]
            )
    return path


def stored(database_url: str) -> list[tuple[Any, ...]]:
    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(database_url)
        try:
            return [tuple(r) for r in await conn.fetch(ROW_SQL)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def sql(database_url: str, statement: str) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    return asyncio.run(run())


def truncate(database_url: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks")
        finally:
            await conn.close()

    asyncio.run(run())


def test_ndjson_and_csv_store_identical_rows(
    cli: typer.Typer, clean_db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    data = items(2_500, tracks=3)
    result = runner.invoke(
        cli, ["ingest", str(write_ndjson(tmp_path / "obs.ndjson", data)), "--batch", "1000"]
    )
    assert result.exit_code == 0, result.output
    assert "accepted 2500 observations, created 10 entities, updated 3 tracks" in result.output
    from_ndjson = stored(database_url)
    assert len(from_ndjson) == 2_500
    truncate(database_url)
    result = runner.invoke(cli, ["ingest", str(write_csv(tmp_path / "obs.csv", data)), "--batch", "1000"])
    assert result.exit_code == 0, result.output
    assert "accepted 2500 observations, created 10 entities, updated 3 tracks" in result.output
    assert stored(database_url) == from_ndjson


def test_bad_lines_are_reported_and_nothing_is_stored(
    cli: typer.Typer, clean_db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    data = items(3_000)
    data[2_600]["heading"] = 400.0
    data[2_700]["time"] = "2026-04-01T00:00:00"
    path = write_ndjson(tmp_path / "bad.ndjson", data)
    result = runner.invoke(cli, ["ingest", str(path), "--batch", "1000"])
    assert result.exit_code == 1
    assert f"{path}:2601, field heading: must be within 0..360, got 400.0" in result.output
    assert f"{path}:2701, field time: must carry a time zone" in result.output
    assert "nothing was stored" in result.output
    assert stored(database_url) == []
    csv_path = write_csv(tmp_path / "bad.csv", data)
    result = runner.invoke(cli, ["ingest", str(csv_path), "--batch", "1000"])
    assert result.exit_code == 1
    # the header is line 1, and a record whose sourceType holds a newline takes two lines of the file
    line = 2 + 2_600 + sum(1 for i in range(2_600) if i % 7 == 0)
    assert f"{csv_path}:{line}, field heading" in result.output
    assert stored(database_url) == []


def test_a_late_database_error_leaves_nothing_stored(
    cli: typer.Typer, clean_db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    """All or nothing means one transaction: a database error on the last chunk, after 19 chunks were
    COPYed, leaves no observation, entity or track behind (the line itself is valid, so only the database
    can refuse it: a CHECK constraint added for this test)."""
    data = items(20_000, entities=40, tracks=4)
    data[19_999]["sourceType"] = "refused-by-the-database"
    bad = write_ndjson(tmp_path / "late.ndjson", data)
    sql(
        database_url,
        "ALTER TABLE atlas4d.observations_core ADD CONSTRAINT test_late_failure "
        "CHECK (source_type IS DISTINCT FROM 'refused-by-the-database') NOT VALID",
    )
    try:
        result = runner.invoke(cli, ["ingest", str(bad), "--batch", "1000"])
    finally:
        sql(database_url, "ALTER TABLE atlas4d.observations_core DROP CONSTRAINT test_late_failure")
    assert result.exit_code == 1
    assert "test_late_failure" in result.output
    assert stored(database_url) == []
    assert (
        sql(
            database_url,
            "SELECT (SELECT count(*) FROM atlas4d.entities) + (SELECT count(*) FROM atlas4d.tracks)",
        )
        == 0
    )
    good = write_ndjson(tmp_path / "many.ndjson", items(20_000, entities=40, tracks=4))
    result = runner.invoke(cli, ["ingest", str(good), "--batch", "1000"])
    assert result.exit_code == 0, result.output
    assert "accepted 20000 observations, created 40 entities, updated 4 tracks" in result.output
    assert len(stored(database_url)) == 20_000


def test_format_option_is_checked(cli: typer.Typer, tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "obs.txt", items(1))
    result = runner.invoke(cli, ["ingest", str(path), "--format", "xml"])
    assert result.exit_code == 2
