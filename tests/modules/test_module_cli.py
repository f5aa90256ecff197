"""The module CLI end to end: install a third-party module from a path (pip + migrate), list it, enable
and disable it, refuse an incompatible one with nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas4d", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def installed(distribution: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "show", distribution], capture_output=True, check=False
    )
    return result.returncode == 0


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> Iterator[dict[str, str]]:
    e = {
        **os.environ,
        "ATLAS4D_DATA_DIR": str(tmp_path),
        "ATLAS4D_DATABASE_URL": database_url,
        "COLUMNS": "200",
    }
    e.pop("ATLAS4D_MODULES", None)
    yield e
    for dist in ("atlas4d-weather-testmodule", "atlas4d-future-testmodule"):
        if installed(dist):
            subprocess.run(
                [sys.executable, "-m", "pip", "uninstall", "-y", dist], capture_output=True, check=False
            )


async def test_install_enable_disable_round_trip(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    result = cli(env, "module", "install", str(FIXTURES / "weather_module"))
    assert result.returncode == 0, result.stderr
    assert "installed weather 0.1.0" in result.stdout
    assert "0001_weather" in result.stdout
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('atlas4d_weather.readings') IS NOT NULL")
        applied = await conn.fetchval(
            "SELECT count(*) FROM atlas4d.schema_migrations WHERE module = 'weather'"
        )
        assert applied == 1
    finally:
        await conn.close()

    listing = cli(env, "module", "list")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if " weather " in line)
    assert "yes" in row and "up to date" in row

    assert cli(env, "module", "disable", "weather").returncode == 0
    row = next(line for line in cli(env, "module", "list").stdout.splitlines() if " weather " in line)
    assert " no " in row
    assert '"weather": false' in (tmp_path / "modules.json").read_text()

    assert cli(env, "module", "enable", "weather").returncode == 0
    row = next(line for line in cli(env, "module", "list").stdout.splitlines() if " weather " in line)
    assert " yes " in row

    check = cli(env, "module", "check", "weather")
    assert check.returncode == 0, check.stderr + check.stdout
    info = cli(env, "module", "info", "weather")
    assert "schema: atlas4d_weather" in info.stdout and "min_version: 0.1.0" in info.stdout


def test_incompatible_module_is_refused_and_nothing_stays(env: dict[str, str]) -> None:
    result = cli(env, "module", "install", str(FIXTURES / "future_module"))
    assert result.returncode == 1
    assert "needs Atlas4D core >=9.0,<10" in result.stderr
    assert not installed("atlas4d-future-testmodule")


def test_unknown_module_names_the_installed_ones(env: dict[str, str]) -> None:
    result = cli(env, "module", "enable", "nosuchmodule")
    assert result.returncode == 1
    assert "no module named 'nosuchmodule' is installed" in result.stderr


def test_search_the_built_in_index(env: dict[str, str]) -> None:
    result = cli(env, "module", "search", "zone")
    assert result.returncode == 0 and "airspace" in result.stdout and "telecom" not in result.stdout
