"""MODULE.yaml, compatible with the original Atlas4D Module Model v0.3.

Fields (v0.3): name, display_name, version, description, core.min_version, core.max_version, category,
author, license, repository, extensions.database.schema/tables, extensions.api, extensions.nlq. We add
extensions.graphql.subgraph (the subgraph name) and keep unknown keys when rewriting a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from packaging.specifiers import SpecifierSet

from atlas4d.modules.contract import Module

REQUIRED = ("name", "display_name", "version", "core")


class ManifestError(ValueError):
    pass


def core_range(specifier: str) -> tuple[str | None, str | None]:
    """(min_version, max_version) in v0.3 style from a specifier: '>=0.1,<0.2' → ('0.1.0', '0.1.x')."""
    low: str | None = None
    high: str | None = None
    for spec in SpecifierSet(specifier):
        if spec.operator == ">=":
            low = _three(spec.version)
        elif spec.operator == "<":
            parts = [int(p) for p in spec.version.split(".")[:2]] + [0]
            major, minor = parts[0], parts[1]
            high = f"{major}.{minor - 1}.x" if minor > 0 else f"{major - 1}.x"
        elif spec.operator == "<=":
            high = _three(spec.version)
    return low, high


def _three(version: str) -> str:
    parts = [*version.split("."), "0", "0"]
    return ".".join(parts[:3])


def specifier_from(min_version: str | None, max_version: str | None) -> str:
    """The inverse of core_range: ('0.1.0', '0.1.x') → '>=0.1.0,<0.2'."""
    parts = []
    if min_version:
        parts.append(f">={min_version}")
    if max_version:
        m = re.fullmatch(r"(\d+)\.(\d+)\.x", max_version) or re.fullmatch(r"(\d+)\.x()", max_version)
        if m and m.group(2):
            parts.append(f"<{m.group(1)}.{int(m.group(2)) + 1}")
        elif m:
            parts.append(f"<{int(m.group(1)) + 1}")
        else:
            parts.append(f"<={max_version}")
    return ",".join(parts)


def to_manifest(module: Module, tables: list[str] | None = None) -> dict[str, Any]:
    low, high = core_range(module.core_versions)
    core: dict[str, Any] = {"min_version": low}
    if high:
        core["max_version"] = high
    return {
        "name": module.name,
        "display_name": module.display_name,
        "version": module.version,
        "description": module.description,
        "core": core,
        "category": module.category,
        "author": module.author,
        "license": module.license,
        "repository": module.repository,
        "requires": list(module.requires),
        "extensions": {
            "database": {"schema": module.db_schema, "tables": tables or []},
            "graphql": {"subgraph": module.name},
        },
    }


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: a manifest is a mapping of fields")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ManifestError(f"{path}: missing required field(s): {', '.join(missing)}")
    core = data["core"]
    if not isinstance(core, dict) or "min_version" not in core:
        raise ManifestError(f"{path}: core.min_version is required")
    return data


def write_manifest(path: Path, module: Module, tables: list[str] | None = None) -> None:
    """Write (or refresh) MODULE.yaml, keeping keys we do not manage."""
    data = to_manifest(module, tables)
    if path.exists():
        old = read_manifest(path)
        for key, value in old.items():
            data.setdefault(key, value)
        old_ext = old.get("extensions") or {}
        for key, value in old_ext.items():
            data["extensions"].setdefault(key, value)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def manifest_matches(module: Module, data: dict[str, Any]) -> list[str]:
    """Differences between a module object and its manifest (used by `atlas4d module check`)."""
    problems = []
    for key in ("name", "display_name", "version"):
        if str(data.get(key)) != str(getattr(module, key)):
            problems.append(
                f"MODULE.yaml {key} is {data.get(key)!r}, the module says {getattr(module, key)!r}"
            )
    core = data.get("core") or {}
    spec = specifier_from(core.get("min_version"), core.get("max_version"))
    if SpecifierSet(spec) != SpecifierSet(module.core_versions):
        problems.append(f"MODULE.yaml core range {spec!r} differs from the module's {module.core_versions!r}")
    return problems
