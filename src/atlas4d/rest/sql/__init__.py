"""SQL text of the REST endpoints, shipped as package data."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def rest_sql(name: str) -> str:
    return (resources.files("atlas4d.rest.sql") / name).read_text(encoding="utf-8")


def fill(template: str, *, where: str, limit: str) -> str:
    """Put generated predicates and the limit placeholder into a statement template."""
    return template.replace("{where}", where).replace("{limit}", limit)
