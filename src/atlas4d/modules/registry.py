"""Finding modules (entry-point group `atlas4d.modules`) and remembering which are enabled.

The enabled set is persisted in `<data_dir>/modules.json` and read at start-up; `ATLAS4D_MODULES`
(a comma-separated list, or `none`) overrides it for one process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from atlas4d import __version__
from atlas4d.modules.contract import Module
from atlas4d.settings import Settings

GROUP = "atlas4d.modules"


class ModuleError(Exception):
    """A module problem a user must fix; the message says how."""


@dataclass(frozen=True)
class Discovered:
    module: Module
    distribution: str


def _load(ep: EntryPoint) -> Module:
    try:
        obj = ep.load()
    except Exception as exc:  # a broken third-party module must not take the platform down
        raise ModuleError(f"module entry point {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
    if callable(obj) and not isinstance(obj, Module):
        obj = obj()
    if not isinstance(obj, Module):
        raise ModuleError(f"entry point {ep.name!r} ({ep.value}) is not an atlas4d Module")
    if obj.name != ep.name:
        raise ModuleError(f"entry point {ep.name!r} loads a module named {obj.name!r}; they must match")
    return obj


def discover(eps: Iterable[EntryPoint] | None = None) -> dict[str, Discovered]:
    """Every installed module by name; two distributions offering the same name is an error."""
    found: dict[str, Discovered] = {}
    for ep in eps if eps is not None else entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        if ep.name in found and found[ep.name].distribution != dist:
            raise ModuleError(
                f"module name clash: {ep.name!r} is provided by both {found[ep.name].distribution!r} "
                f"and {dist!r}; uninstall one of them"
            )
        found[ep.name] = Discovered(_load(ep), dist)
    return found


def state_file(settings: Settings) -> Path:
    return settings.data_dir / "modules.json"


def read_state(settings: Settings) -> dict[str, bool]:
    path = state_file(settings)
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): bool(v) for k, v in (data.get("enabled") or {}).items()}


def write_state(settings: Settings, state: dict[str, bool]) -> None:
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"enabled": dict(sorted(state.items()))}, indent=2), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a crash never leaves half a file


def is_enabled(name: str, settings: Settings, state: dict[str, bool] | None = None) -> bool:
    override = os.environ.get("ATLAS4D_MODULES")
    if override is not None:
        names = {n.strip() for n in override.split(",") if n.strip() and n.strip() != "none"}
        return name in names
    state = read_state(settings) if state is None else state
    return state.get(name, True)  # installed modules are enabled until disabled


def check(module: Module, available: dict[str, Discovered], enabled: set[str]) -> list[str]:
    """Problems that stop `module` from running with this core and this enabled set."""
    problems = module.problems(__version__)
    for dep in module.requires:
        if dep not in available:
            problems.append(f"module {module.name} requires module {dep!r}, which is not installed")
        elif dep not in enabled:
            problems.append(f"module {module.name} requires module {dep!r}, which is disabled")
    return problems


def enabled_modules(settings: Settings, available: dict[str, Discovered] | None = None) -> list[Module]:
    """The modules to run, in name order; refuses (ModuleError) if one of them cannot run."""
    available = discover() if available is None else available
    state = read_state(settings)
    names = sorted(n for n in available if is_enabled(n, settings, state))
    override = os.environ.get("ATLAS4D_MODULES")
    if override is not None:
        unknown = sorted(
            {n.strip() for n in override.split(",") if n.strip() and n.strip() != "none"} - set(available)
        )
        if unknown:
            raise ModuleError(f"ATLAS4D_MODULES names unknown module(s): {', '.join(unknown)}")
    problems = [p for n in names for p in check(available[n].module, available, set(names))]
    if problems:
        raise ModuleError("; ".join(problems) + " (disable it with `atlas4d module disable NAME`)")
    return [available[n].module for n in names]
