"""`clients/python` is a distribution of its own: it builds, declares no dependency on the gateway, and works
in an interpreter where the gateway's `atlas4d` package cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from clients_server import LiveServer
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_stands_alone(live: LiveServer, tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT / "clients" / "python"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("atlas4d_client-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert all(n.startswith(("atlas4d_client/", "atlas4d_client-")) for n in names), names
    requires = [
        line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist")
    ]
    assert not any(r.lower().startswith("atlas4d") for r in requires), requires
    required = {Requirement(r).name for r in requires if Requirement(r).marker is None}
    assert required == {"httpx", "shapely", "isodate", "websockets"}
    assert {Requirement(r).name for r in requires} - required == {"geopandas"}  # the extra

    target = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    # -S: no site-packages processing, so the editable installs (.pth files) of atlas4d and of the client
    # are invisible; only the wheel just installed and the third-party packages are on the path.
    script = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('atlas4d') is None, 'the gateway package is importable'\n"
        "from atlas4d_client import Client\n"
        "assert Client.__module__ == 'atlas4d_client.client'\n"
        "assert sys.modules['atlas4d_client'].__file__.startswith(sys.argv[2])\n"
        "with Client(url=sys.argv[1]) as c:\n"
        "    print(c.entities.get('48a398c4-ef61-5ab9-ac46-ba36f0721d05').name)\n"
    )
    env = {"PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}"}
    ran = subprocess.run(
        [sys.executable, "-S", "-c", script, live.url, str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "OLT-Burgas-Central"
