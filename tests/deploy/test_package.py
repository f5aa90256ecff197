"""`pip install atlas4d`: the wheel and sdist build (the wheel from the sdist, as `python -m build` does), their
metadata passes `twine check`, and the wheel installed into a fresh virtualenv serves an external PostGIS
database from its own files alone: migrations, GraphiQL and the example operations come from the wheel, never
from this source tree.

The fresh venv gets the wheel with `--no-deps`; its dependencies are the ones already in the project's venv,
reached by a path line in a .pth file (a plain path, so the editable install's own .pth there is not run and
`src/` never comes onto the path). That keeps the test offline and under a minute; `pip check` proves the
wheel's declared requirements are what that environment satisfies.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from live_server import empty_database, free_port

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, timeout: float = 240, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, timeout=300)
    return out


def test_distributions_and_metadata(dist: Path) -> None:
    (wheel,) = dist.glob("atlas4d-*.whl")
    (sdist,) = dist.glob("atlas4d-*.tar.gz")
    run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        version_file = zf.read("atlas4d/_version.py").decode()
    fields = [line.split(": ", 1) for line in metadata.split("\n\n", 1)[0].splitlines() if ": " in line]
    meta: dict[str, list[str]] = {}
    for key, value in fields:
        meta.setdefault(key, []).append(value)
    assert meta["Name"] == ["atlas4d"] and meta["License-Expression"] == ["Apache-2.0"]
    version = meta["Version"][0]
    assert wheel.name.startswith(f"atlas4d-{version}-") and repr(version) in version_file
    assert meta["Requires-Python"] == [">=3.11"] and "atlas4d = atlas4d.cli:main" in entry_points
    assert any(c.startswith("Topic :: Scientific/Engineering :: GIS") for c in meta["Classifier"])
    # every runtime requirement pins its major (an upper bound), except packaging
    requires = [r for r in meta["Requires-Dist"] if "extra ==" not in r]
    assert len(requires) > 15 and all("<" in r for r in requires if not r.startswith("packaging")), requires
    assert "LICENSE" in {Path(n).name for n in names if ".dist-info/licenses/" in n}
    # what the server reads from its own package at run time
    migrations = {n for n in names if n.startswith("atlas4d/migrations/core/") and n.endswith(".sql")}
    local = {
        f"atlas4d/migrations/core/{p.name}" for p in (ROOT / "src/atlas4d/migrations/core").glob("*.sql")
    }
    assert migrations == local and len(local) >= 7
    for asset in (
        "web/static/graphiql/graphiql.min.js",
        "web/static/map/maplibre-gl.mjs",
        "web/static/swagger-ui/swagger-ui-bundle.js",
        "rest/openapi.yaml",
        "modules/index.json",
        "py.typed",
    ):
        assert f"atlas4d/{asset}" in names, asset
    examples = {Path(n).name for n in names if n.startswith("atlas4d/web/static/graphiql/examples/")}
    assert examples == {p.name for p in (ROOT / "graphql/examples").glob("*.graphql")} and examples
    assert not any(n.startswith(("tests/", "bench/", "clients/")) or "node_modules" in n for n in names)


@pytest.fixture
async def wheel_database(database_url: str) -> AsyncIterator[str]:
    """An empty database beside the test one: the installed wheel's own migrations must build it."""
    async with empty_database(database_url, "wheel") as url:
        yield url


async def test_wheel_serves_an_external_database(dist: Path, wheel_database: str, tmp_path: Path) -> None:
    (wheel,) = dist.glob("atlas4d-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel)
    purelib = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    )
    (purelib / "_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    checked = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pip", "--python", str(python), "check"],
        capture_output=True,
        text=True,
    )
    assert not [line for line in checked.stdout.splitlines() if line.startswith("atlas4d ")], checked.stdout
    where = run(
        python,
        "-c",
        "import atlas4d, sys; print(atlas4d.__file__); print(atlas4d.__version__); print(sys.path)",
        cwd=tmp_path,
    ).stdout.splitlines()
    assert where[0].startswith(str(purelib)), where
    assert str(ROOT / "src") not in where[2] and where[1] != "0.0.0+unknown", where

    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ATLAS4D_DATABASE_URL": wheel_database,
        "ATLAS4D_DATA_DIR": str(tmp_path / "data"),
        "ATLAS4D_PORT": str(port),
        "ATLAS4D_GC_FREEZE": "false",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        server = await asyncio.create_subprocess_exec(
            venv / "bin" / "atlas4d",
            "serve",
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for _ in range(600):
                if server.returncode is not None:
                    raise AssertionError(log.read_text()[-3000:])
                try:
                    health = await client.get("/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("atlas4d serve from the wheel did not answer /health in 60 s")
            assert health.status_code == 200
            assert health.json()["status"] == "healthy" and health.json()["version"] == where[1]
            created = await client.post(
                "/graphql",
                json={
                    "query": 'mutation { createEntities(entities: [{kind: "vehicle", name: "wheel-1"}]) '
                    "{ id name } }"
                },
            )
            assert created.status_code == 200 and "errors" not in created.json(), created.text
            listed = await client.post("/graphql", json={"query": "{ entities { nodes { name kind } } }"})
            assert listed.json() == {
                "data": {"entities": {"nodes": [{"name": "wheel-1", "kind": "vehicle"}]}}
            }
            page = await client.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code == 200 and "graphiql.min.js" in page.text
            example = next((ROOT / "graphql/examples").glob("*.graphql")).stem.replace("-", " ")
            assert example in page.text
            asset = await client.get("/graphiql/graphiql.min.js")
            assert asset.status_code == 200 and len(asset.content) > 100_000
        conn = await asyncpg.connect(wheel_database)
        try:
            applied = await conn.fetchval(
                "SELECT count(*) FROM atlas4d.schema_migrations WHERE module = 'core'"
            )
        finally:
            await conn.close()
        assert applied == len(list((ROOT / "src/atlas4d/migrations/core").glob("*.sql")))
    finally:
        os.killpg(server.pid, 15)
        await asyncio.wait_for(server.wait(), 15)
