"""SQL text of the REST endpoints, shipped as package data.

Positions are written `{lon(o)}`, `{lat(o)}`, `{point(o)}` in the files and replaced at load by the
expressions of `atlas4d.core.position`, so REST reads positions by the same rule as GraphQL.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from atlas4d.core.position import lat_sql, lon_sql, point_sql

_POSITION = re.compile(r"\{(lon|lat|point)\((\w+)\)\}")
_EXPRESSIONS = {"lon": lon_sql, "lat": lat_sql, "point": point_sql}


@cache
def rest_sql(name: str) -> str:
    text = (resources.files("atlas4d.rest.sql") / name).read_text(encoding="utf-8")
    return _POSITION.sub(lambda m: _EXPRESSIONS[m.group(1)](m.group(2)), text)


def fill(template: str, *, where: str, limit: str) -> str:
    """Put generated predicates and the limit placeholder into a statement template."""
    return template.replace("{where}", where).replace("{limit}", limit)
