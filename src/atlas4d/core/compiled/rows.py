"""Python row builders for compiled observation pages, generated per selection.

PostgreSQL returns only the columns the selection needs (binary protocol); a small function generated for
the selection turns each row into exactly the dict the resolvers' objects complete to, which orjson
serialises. Each field's value is the expression `Observation.from_row` / `Entity.from_row` uses, so the
values are the same; what graphql-core's completion would refuse — a null in a non-null field, a NaN or
infinite Float — makes the builder return None, and the page is then completed by the stock executor over
the same rows (`atlas4d.core.compiled.fallback`), which reports the spec's errors and null propagation.
Which fields are non-null or Float comes from the schema, so a field made nullable needs no change here.

Why generate code: the selection is known before the rows arrive, so per row there is one dict display of
`r[i]` lookups — about 1 µs for a Q1-shaped row, against ~10 µs through the executor. Why not let
PostgreSQL build the JSON text: formatting timestamps like Python's `isoformat` and concatenating text cost
it ~3 ms per 1,000 rows, more than the query itself, and PostgreSQL is what the 2 cores run out of first.

The generated source contains only our own column positions and the response keys, which are GraphQL
names (`[_A-Za-z][_0-9A-Za-z]*`, checked by the parser) written with `repr`; nothing else from a request
reaches it. Builders are cached by their source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import GraphQLNamedType, GraphQLNonNull, GraphQLOutputType, get_named_type

from atlas4d.core.compiled.plan import TYPENAME
from atlas4d.core.position import lat_sql, lon_sql

Row = Sequence[Any]
Builder = Callable[[Sequence[Row]], list[dict[str, Any]] | None]


@dataclass(frozen=True)
class Value:
    """A field's value: the row keys it reads (as `from_row` names them) and a Python expression over them."""

    sources: tuple[str, ...]
    python: str


def _same(source: str) -> Value:
    return Value((source,), "{0}")


def _optional_id(source: str) -> Value:
    return Value((source,), "(str({0}) if {0} else None)")


# Each mirrors `Observation.from_row` / `Entity.from_row` (atlas4d.core.schema.types).
OBSERVATION: dict[str, Value] = {
    "id": Value(("id",), "str({0})"),
    "time": _same("t"),
    "lon": _same("lon"),
    "lat": _same("lat"),
    "altitude": _same("altitude_m"),
    "speed": _same("speed_ms"),
    "heading": _same("heading_deg"),
    "sourceType": _same("source_type"),
    "entityId": _optional_id("entity_id"),
    "trackId": _optional_id("track_id"),
    "metadata": _same("metadata"),
    "geometry": Value(
        ("lon", "lat", "altitude_m"),
        "(None if {0} is None else {{'type': 'Point', 'coordinates': [{0}, {1}] if {2} is None else [{0}, {1}, {2}]}})",
    ),
}
ENTITY: dict[str, Value] = {
    "id": Value(("id",), "str({0})"),
    "kind": _same("kind"),
    "name": _same("name"),
    "sourceType": _same("source_type"),
    "properties": Value(("properties",), "({0} if {0} is not None else {{}})"),
    "createdAt": _same("created_at"),
}


def observation_sql(alias: str) -> dict[str, str]:
    """SQL of each `Observation.from_row` key over `alias` (the position by `atlas4d.core.position`'s rule)."""
    lon, lat = lon_sql(alias), lat_sql(alias)
    names = (
        "id",
        "t",
        "altitude_m",
        "speed_ms",
        "heading_deg",
        "source_type",
        "entity_id",
        "track_id",
        "metadata",
    )
    return {"lon": lon, "lat": lat, **{n: f"{alias}.{n}" for n in names}}


ENTITY_SQL = {n: f"e.{n}" for n in ("id", "kind", "name", "source_type", "properties", "created_at")}


@dataclass
class Columns:
    """The SQL columns a page reads, each once, in the order the builder reads them; `sources` says which
    `from_row` key of which object (`""` the observation, `"e"` its entity) each one is."""

    sql: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)

    def read(self, kind: str, source: str, sql: str) -> str:
        if (kind, source) not in self.sources:
            self.sources.append((kind, source))
            self.sql.append(sql)
        return f"r[{self.sources.index((kind, source))}]"


def checks(variable: str, type_: GraphQLOutputType) -> list[str]:
    """Conditions under which graphql-core would not complete the value as it is (an error instead)."""
    named: GraphQLNamedType = get_named_type(type_)
    out = []
    if isinstance(type_, GraphQLNonNull):
        out.append(f"{variable} is None")
    if named.name == "Float":  # serialize_float refuses NaN and infinities ("Float cannot represent ...")
        out.append(f"({variable} is not None and {variable} - {variable} != 0.0)")
    return out


class Code:
    """Lines of the generated function, with fresh variable names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._n = 0

    def var(self) -> str:
        self._n += 1
        return f"v{self._n}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


@lru_cache(maxsize=512)
def compile_builder(body: str) -> Builder:
    """`rows -> [object for each row r]` (None when a row needs the executor), compiled once per source."""
    namespace: dict[str, Any] = {}
    exec(body, namespace)
    built: Builder = namespace["build"]
    return built


def builder_source(code: Code, row_object: Callable[[int], str | None]) -> str | None:
    """The source of `build(rows)`: `row_object(depth)` emits a row's statements into `code` and returns the
    expression of its object (None: the selection cannot be compiled)."""
    code.emit(0, "def build(rows):")
    code.emit(1, "out = []")
    code.emit(1, "append = out.append")
    code.emit(1, "for r in rows:")
    expression = row_object(2)
    if expression is None:
        return None
    code.emit(2, f"append({expression})")
    code.emit(1, "return out")
    return "\n".join(code.lines) + "\n"


__all__ = [
    "ENTITY",
    "ENTITY_SQL",
    "OBSERVATION",
    "TYPENAME",
    "Builder",
    "Code",
    "Columns",
    "Value",
    "builder_source",
    "checks",
    "compile_builder",
    "observation_sql",
]
