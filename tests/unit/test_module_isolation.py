"""Modules consume core and never each other: a module that imports another module fails this test."""

from __future__ import annotations

import ast
from pathlib import Path

import atlas4d.modules

MODULES_DIR = Path(atlas4d.modules.__file__).parent
REFERENCE = ["airspace", "mobility", "telecom", "vision"]


def module_packages() -> list[Path]:
    return sorted(p for p in MODULES_DIR.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by a file (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(MODULES_DIR.parent.parent).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(MODULES_DIR.parent.parent).parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            out.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return out


def violations(package_dir: Path) -> list[str]:
    own = f"atlas4d.modules.{package_dir.name}"
    found = []
    for path in package_dir.rglob("*.py"):
        for line, name in imports_of(path):
            parts = name.split(".")
            if parts[:2] == ["atlas4d", "modules"] and len(parts) > 2:
                other = f"atlas4d.modules.{parts[2]}"
                if other != own and parts[2] not in {"contract", "manifest", "registry", "serving"}:
                    found.append(f"{path.relative_to(MODULES_DIR)}:{line} imports {name}")
    return found


def test_reference_modules_are_present() -> None:
    assert {p.name for p in module_packages()} >= set(REFERENCE)


def test_no_module_imports_another() -> None:
    problems = [v for p in module_packages() for v in violations(p)]
    assert not problems, "modules must not import each other:\n" + "\n".join(problems)


def test_the_check_catches_a_cross_import() -> None:
    # the checker itself must be able to fail: a fake module importing telecom
    fake = MODULES_DIR / "zz_fake_for_test"
    fake.mkdir()
    try:
        (fake / "__init__.py").write_text("from atlas4d.modules.telecom import module\n", encoding="utf-8")
        (fake / "sub.py").write_text("from ..mobility.schema import x\n", encoding="utf-8")
        flagged = violations(fake)
        assert any(
            v.startswith("zz_fake_for_test/__init__.py:1 imports atlas4d.modules.telecom") for v in flagged
        )
        assert any(
            v.startswith("zz_fake_for_test/sub.py:1 imports atlas4d.modules.mobility") for v in flagged
        )
    finally:
        for f in fake.iterdir():
            f.unlink()
        fake.rmdir()
