"""deploy/Dockerfile builds and runs here, daemonlessly: `scripts/image.sh` makes the base images from the Debian
mirror (debootstrap, no Docker Hub) and builds the Dockerfile with podman; the image then serves a new empty
PostGIS database on the shared test cluster the way the Helm chart runs it (uid 10001, read-only root file
system, a tmpfs at /tmp, every capability dropped, no new privileges), from its own files alone.

What is proved: `atlas4d db migrate` in the image builds the database, `auth key create` in the image makes a key
the server then accepts, /ready turns 200, GraphQL writes and reads, the server process is uid 10001 on the host
and cannot write its root file system, and SIGTERM stops it cleanly (exit 0, uvicorn's shutdown logged) well
before podman would resort to SIGKILL.

Needs root (debootstrap; rootful podman) or password-less sudo, podman and debootstrap (scripts/setup.sh installs
them): any of these missing fails the test, it never skips. The base images are cached per machine
(scripts/image.sh); the gateway image and every container are removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from atlas4d.settings import default_data_dir
from live_server import empty_database, free_port

ROOT = Path(__file__).resolve().parents[2]
# the cache of scripts/image.sh (base tarball, containers.conf) under the data dir; podman reads the same
# containers.conf as the build (runc, rlimits the caller may set: docs/deploy.md §2)
CACHE = Path(
    os.environ.get("ATLAS4D_IMAGE_CACHE")
    or Path(os.environ.get("ATLAS4D_DATA_DIR") or default_data_dir()) / "image"
)
ENV = [f"HOME={Path.home()}", f"ATLAS4D_IMAGE_CACHE={CACHE}", f"CONTAINERS_CONF={CACHE / 'containers.conf'}"]
SUDO = ["env", *ENV] if os.geteuid() == 0 else ["sudo", "-n", "env", *ENV]
BUILD_TIMEOUT = 3600  # cold on a loaded 2-core machine: debootstrap + Debian's npm + pip from PyPI
# cyclonedx-py's CLI with the tool on sys.path of this process only: the interpreter it inspects (the venv's
# python, run as a child) sees the image's packages alone
SBOM = (
    "import runpy, sys; sys.path.insert(0, '/sbom'); sys.argv = ['cyclonedx-py', 'environment', "
    "'--output-format', 'JSON', '/opt/atlas4d/bin/python']; runpy.run_module('cyclonedx_py', run_name='__main__')"
)
RUN_FLAGS = (
    "--read-only",
    "--tmpfs=/tmp:rw,size=64m",
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
)


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*SUDO, "podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert done.returncode == 0, f"podman {args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    for tool in ("podman", "debootstrap"):
        assert shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists(), f"{tool} missing: run make setup"
    tag = f"localhost/atlas4d-test:{uuid.uuid4().hex[:10]}"
    try:
        done = subprocess.run(
            [*SUDO, "bash", str(ROOT / "scripts/image.sh"), tag, "--layers=false"],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
            cwd=ROOT,
        )
        assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        yield tag
    finally:
        podman("rmi", "--force", tag, check=False)


@pytest.fixture
async def image_database(database_url: str) -> AsyncIterator[str]:
    async with empty_database(database_url, "image") as url:
        yield url


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_image_metadata(image: str) -> None:
    (meta,) = json.loads(podman("image", "inspect", image).stdout)
    config = meta["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["atlas4d"] and config["Cmd"] == ["serve"]
    assert "ATLAS4D_ENV=production" in config["Env"]
    assert meta["Config"]["Labels"]["org.opencontainers.image.licenses"] == "Apache-2.0"
    check = meta["Healthcheck"]["Test"]  # kept: built in Docker format
    assert check[:2] == ["CMD", "python"] and "ATLAS4D_PORT" in check[-1], check
    # the runtime stage holds no compiler, npm or source tree
    files = podman(
        "run",
        "--rm",
        *RUN_FLAGS,
        "--network=none",
        "--entrypoint=/bin/sh",
        image,
        "-c",
        "command -v gcc npm node; ls /src 2>&1; id -u; atlas4d --version",
        check=False,
    )
    assert "/npm" not in files.stdout and "/gcc" not in files.stdout and "/node" not in files.stdout
    assert "No such file" in files.stdout and "\n10001\n" in files.stdout, files.stdout


@pytest.mark.timeout(BUILD_TIMEOUT)
async def test_image_migrates_and_serves_postgis_read_only_as_non_root(
    image: str, image_database: str
) -> None:
    env = ["--network=host", "-e", f"ATLAS4D_DATABASE_URL={image_database}"]
    migrated = await asyncio.to_thread(podman, "run", "--rm", *RUN_FLAGS, *env, image, "db", "migrate")
    conn = await asyncpg.connect(image_database)
    try:
        applied = await conn.fetchval("SELECT count(*) FROM atlas4d.schema_migrations WHERE module = 'core'")
    finally:
        await conn.close()
    assert applied == len(list((ROOT / "src/atlas4d/migrations/core").glob("*.sql"))), migrated.stdout

    made = await asyncio.to_thread(
        podman,
        "run",
        "--rm",
        *RUN_FLAGS,
        *env,
        image,
        "auth",
        "key",
        "create",
        "image-test",
        "--role",
        "admin",
    )
    key = re.search(r"Authorization: Bearer (\S+)", made.stdout)
    assert key, made.stdout + made.stderr

    port = free_port()
    name = f"atlas4d-test-{uuid.uuid4().hex[:10]}"
    served = ["-e", f"ATLAS4D_PORT={port}", "-e", "ATLAS4D_HOST=127.0.0.1"]  # host network: loopback only
    podman("run", "--detach", f"--name={name}", *RUN_FLAGS, *env, *served, image)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(900):
                try:
                    ready = await client.get("/ready")
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                state = podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
                assert state == "true", podman("logs", name, check=False).stderr[-3000:]
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(podman("logs", name, check=False).stderr[-3000:])
            assert ready.json()["status"] == "ready", ready.text
            anonymous = await client.post("/graphql", json={"query": "{ entities { nodes { name } } }"})
            assert anonymous.status_code == 401  # production: no anonymous role
            auth = {"authorization": f"Bearer {key.group(1)}"}
            created = await client.post(
                "/graphql",
                headers=auth,
                json={
                    "query": 'mutation { createEntities(entities: [{kind: "vessel", name: "image-1"}]) { id } }'
                },
            )
            assert created.status_code == 200 and "errors" not in created.json(), created.text
            listed = await client.post(
                "/graphql", headers=auth, json={"query": "{ entities { nodes { name kind } } }"}
            )
            assert listed.json() == {"data": {"entities": {"nodes": [{"name": "image-1", "kind": "vessel"}]}}}

        # the image's HEALTHCHECK follows ATLAS4D_PORT
        assert podman("healthcheck", "run", name, check=False).returncode == 0
        # the server runs as uid 10001 (rootful podman, no user namespace: the host sees the same uid)
        pid = podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {"10001"}, status
        wrote = podman(
            "exec",
            name,
            "python",
            "-c",
            "import sys\nfor p in ('/opt/atlas4d/x', '/etc/x', '/tmp/x'):\n"
            "    try: open(p, 'w').close(); print(p, 'ok')\n    except OSError as e: print(p, e.strerror)",
        )
        assert wrote.stdout.split("\n")[:3] == [
            "/opt/atlas4d/x Read-only file system",
            "/etc/x Read-only file system",
            "/tmp/x ok",
        ], wrote.stdout

        podman("kill", "--signal=TERM", name)
        code = podman("wait", name, timeout=60).stdout.strip()
        logs = podman("logs", name).stderr
        assert code == "0", logs[-3000:]
        assert "Finished server process" in logs or "shutdown" in logs.lower(), logs[-3000:]
    finally:
        podman("rm", "--force", "--time=0", name, check=False)


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_sbom_of_the_image_lists_what_runs_and_no_build_tools(image: str) -> None:
    """docs/deploy.md's SBOM recipe where syft and BuildKit are missing: CycloneDX's `cyclonedx-py environment`
    (PyPI) run by the image's own Python over its virtualenv, the tool mounted read-only beside it."""
    with tempfile.TemporaryDirectory() as tool:
        os.chmod(tool, 0o755)  # read by uid 10001
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", tool, "cyclonedx-bom>=7,<8"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        made = podman(
            "run", "--rm", *RUN_FLAGS, "--network=none", f"--volume={tool}:/sbom:ro", "--entrypoint=python",
            image, "-c", SBOM,
        )  # fmt: skip
    bom = json.loads(made.stdout)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    names = {c["name"].lower().replace("_", "-"): c["version"] for c in bom["components"]}
    (meta,) = json.loads(podman("image", "inspect", image).stdout)
    assert names["atlas4d"] == meta["Config"]["Labels"]["org.opencontainers.image.version"]
    assert {"asyncpg", "starlette", "uvicorn", "strawberry-graphql", "shapely"} <= set(names)
    build_tools = {"pip", "build", "hatchling", "hatch-vcs", "setuptools", "setuptools-scm", "pluggy"}
    assert not build_tools & set(names), sorted(build_tools & set(names))
    assert not any(n.startswith("cyclonedx") for n in names)  # the tool itself is not in the image
