"""SQL helpers: values only through `$n` parameters, identifiers only through `quote_ident`."""

from __future__ import annotations

from importlib import resources
from typing import Any


class Params:
    """Collects parameter values and hands out their `$n` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, cast: str | None = None) -> str:
        self.values.append(value)
        placeholder = f"${len(self.values)}"
        return f"{placeholder}::{cast}" if cast else placeholder


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (the only way identifiers reach SQL text)."""
    return '"' + name.replace('"', '""') + '"'


def load_sql(name: str) -> str:
    """A statement shipped as package data in `atlas4d/core/sql/`."""
    return (resources.files("atlas4d.core") / "sql" / name).read_text(encoding="utf-8")
