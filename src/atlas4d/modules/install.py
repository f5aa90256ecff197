"""`atlas4d module install` and `search`: pip for the install, our checks before anything is kept.

Install is all-or-nothing: the package is pip-installed, its new modules are discovered and checked
(core compatibility, name clash, dependencies, migrations that apply); on any failure pip uninstalls
what was just installed, so nothing is left half-installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

import httpx

from atlas4d.modules.registry import Discovered, ModuleError, check, discover


def _installed() -> set[str]:
    return {d.metadata["Name"].lower() for d in distributions() if d.metadata["Name"]}


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def install(target: str) -> tuple[list[Discovered], list[str]]:
    """pip-install `target`; return the newly discovered modules, or raise ModuleError after rolling back."""
    before_dists = _installed()
    try:
        before = discover()
    except ModuleError:
        before = {}
    result = pip("install", target)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise ModuleError(f"pip could not install {target!r}:\n{tail}")
    added_dists = sorted(_installed() - before_dists)
    try:
        after = discover()
        new = [d for name, d in after.items() if name not in before]
        if not new:
            raise ModuleError(
                f"{target!r} installed no Atlas4D module (no entry point in group 'atlas4d.modules')"
            )
        enabled = set(after)
        problems = [p for d in new for p in check(d.module, after, enabled)]
        if problems:
            raise ModuleError("; ".join(problems))
    except ModuleError:
        if added_dists:
            pip("uninstall", "-y", *added_dists)
        raise
    return new, added_dists


def uninstall(distributions_: list[str]) -> None:
    if distributions_:
        pip("uninstall", "-y", *distributions_)


def load_index(source: str | None) -> list[dict[str, Any]]:
    """The module index: a JSON file or URL, or the one shipped with the gateway."""
    if source is None:
        text = (resources.files("atlas4d.modules") / "index.json").read_text(encoding="utf-8")
    elif source.startswith(("http://", "https://")):
        try:
            response = httpx.get(source, timeout=10.0, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ModuleError(f"could not read the module index at {source}: {type(exc).__name__}") from exc
        text = response.text
    else:
        path = Path(source)
        if not path.exists():
            raise ModuleError(f"module index {source} does not exist")
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModuleError(f"module index {source or '(built in)'} is not JSON: {exc}") from exc
    modules = data.get("modules") if isinstance(data, dict) else None
    if not isinstance(modules, list):
        raise ModuleError("a module index is an object with a `modules` list")
    return [m for m in modules if isinstance(m, dict) and "name" in m]


def search(term: str, source: str | None) -> list[dict[str, Any]]:
    needle = term.lower()
    return [
        m
        for m in load_index(source)
        if needle
        in " ".join(str(m.get(k, "")) for k in ("name", "display_name", "description", "category")).lower()
    ]
