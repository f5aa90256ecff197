"""`observations(...) { nodes { <plain fields> entity { <plain fields> } } }` as one statement and a
generated row builder (`atlas4d.core.compiled.rows`).

The page is cut first, narrow (only the columns used, through the resolvers' own page statement), and only
then joined to its entities. The filter, page size, order and cursor come from the resolver's arguments
through the same conversions (`ObservationFilter.to_domain`, `page_size`, `observation_page_sql`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType, get_named_type

from atlas4d.core.compiled.plan import TYPENAME, Field, Selection
from atlas4d.core.compiled.rows import (
    ENTITY,
    ENTITY_SQL,
    OBSERVATION,
    Code,
    Columns,
    Value,
    builder_source,
    checks,
    compile_builder,
    observation_sql,
)
from atlas4d.core.queries import Page, observation_statement, page_size
from atlas4d.core.schema.connection import Connection, connection
from atlas4d.core.schema.inputs import TimeOrder, observation_filter
from atlas4d.core.schema.types import Entity, Observation
from atlas4d.core.slices import PageStatement
from atlas4d.settings import Settings

Records = list[Any]
OBSERVATION_KIND, ENTITY_KIND = "", "e"


class Row(dict[str, Any]):
    """A `from_row` record made of the columns a page fetched; the others read as None (never selected)."""

    def __missing__(self, key: str) -> None:
        return None


@dataclass(frozen=True)
class Nodes:
    """The connection's selection: one `nodes` key (the page) and any `__typename` keys, in response order."""

    field: Field
    type: GraphQLObjectType
    keys: list[tuple[str, str | None]]  # (response key, the type name for __typename / None for nodes)

    def envelope(self, nodes: Any) -> dict[str, Any]:
        return {key: nodes if name is None else name for key, name in self.keys}


def nodes_of(selection: Selection, root: Field) -> Nodes | None:
    """The connection's selection when it is one `nodes` key (and `__typename`s), else None."""
    connection = get_named_type(root.type)
    if not isinstance(connection, GraphQLObjectType):
        return None
    fields = selection.children(connection, root)
    if fields is None or [f.name for f in fields if f.name != TYPENAME] != ["nodes"]:
        return None
    nodes = next(f for f in fields if f.name == "nodes")
    node_type = get_named_type(nodes.type)
    if not isinstance(node_type, GraphQLObjectType):
        return None
    keys = [(f.key, None if f.name == "nodes" else connection.name) for f in fields]
    return Nodes(nodes, node_type, keys)


class ObjectCode:
    """Emits the statements that build one object of a row (an observation, or its entity)."""

    def __init__(self, selection: Selection, code: Code, columns: Columns) -> None:
        self.selection = selection
        self.code = code
        self.columns = columns

    def object(
        self, depth: int, fields: list[Field], values: dict[str, Value], kind: str, sql: dict[str, str]
    ) -> str | None:
        items = []
        for f in fields:
            if f.name == TYPENAME:
                items.append(f"{f.key!r}: {f.parent.name!r}")
                continue
            if f.definition is None or f.definition.args:
                return None
            if f.name == "entity" and kind == OBSERVATION_KIND:
                expression = self.entity(depth, f)
            elif f.name in values and not isinstance(get_named_type(f.type), GraphQLObjectType):
                value = values[f.name]
                refs = [self.columns.read(kind, s, sql[s]) for s in value.sources]
                expression = self.leaf(depth, value.python.format(*refs), f)
            else:
                return None
            if expression is None:
                return None
            items.append(f"{f.key!r}: {expression}")
        return "{" + ", ".join(items) + "}"

    def leaf(self, depth: int, expression: str, f: Field) -> str:
        var = self.code.var()
        conditions = checks(var, f.type)
        if not conditions:
            return expression
        self.code.emit(depth, f"{var} = {expression}")
        self.code.emit(depth, f"if {' or '.join(conditions)}:")
        self.code.emit(depth + 1, "return None")
        return var

    def entity(self, depth: int, f: Field) -> str | None:
        entity_type = get_named_type(f.type)
        if not isinstance(entity_type, GraphQLObjectType) or entity_type.name != "Entity":
            return None
        fields = self.selection.children(entity_type, f)
        if fields is None:
            return None
        self.columns.read(
            OBSERVATION_KIND, "entity_id", "q.entity_id"
        )  # the resolver's test, for the fallback
        key = self.columns.read(ENTITY_KIND, "id", ENTITY_SQL["id"])
        var = self.code.var()
        self.code.emit(depth, f"if {key} is None:")
        self.code.emit(depth + 1, f"{var} = None")
        self.code.emit(depth, "else:")
        inner = self.object(depth + 1, fields, ENTITY, ENTITY_KIND, ENTITY_SQL)
        if inner is None:
            return None
        self.code.emit(depth + 1, f"{var} = {inner}")
        return var


def observation_page(
    selection: Selection, root: Field, settings: Settings
) -> tuple[PageStatement, Callable[[Records], Any], Callable[[Records], dict[tuple[Any, ...], Any]]] | None:
    """(the statement, rows -> the root field's value or None, rows -> the fallback's values by path)."""
    found = nodes_of(selection, root)
    if found is None:
        return None
    nodes, node_type = found.field, found.type
    fields = selection.children(node_type, nodes)
    if fields is None or node_type.name != "Observation":
        return None
    args = selection.arguments(
        root
    )  # raises our errors for a bad filter: the caller lets the resolver report
    flt = observation_filter(args.get("filter"))
    first = page_size(args.get("first"), settings.default_page_size, settings.max_page_size)
    descending = args.get("order_by", TimeOrder.TIME_DESC) is TimeOrder.TIME_DESC
    code, columns = Code(), Columns()
    emitter = ObjectCode(selection, code, columns)
    source = builder_source(
        code, lambda depth: emitter.object(depth, fields, OBSERVATION, OBSERVATION_KIND, observation_sql("q"))
    )
    if source is None:
        return None
    build = compile_builder(source)
    joined = any(kind == ENTITY_KIND for kind, _ in columns.sources)
    d = "DESC" if descending else "ASC"
    after = args.get("after")
    if joined:
        used = sorted({"t", "id", "entity_id", *re.findall(r"\bq\.(\w+)", " ".join(columns.sql))})
        outer = ", ".join(columns.sql)

        def around(page: str) -> str:
            return (
                f"SELECT {outer} FROM ({page}) q "
                f"LEFT JOIN atlas4d.entities e ON e.id = q.entity_id ORDER BY q.t {d}, q.id {d}"
            )

        statement = observation_statement(
            flt, limit=first, after=after, descending=descending,
            columns=", ".join(f"o.{c}" for c in used), around=around,
            sliced=settings.time_slices,
        )  # fmt: skip
    else:
        direct = observation_sql("o")
        statement = observation_statement(
            flt, limit=first, after=after, descending=descending,
            columns=", ".join(direct[s] for _, s in columns.sources) or "1",
            sliced=settings.time_slices,
        )  # fmt: skip
    root_key = root.key

    def render(records: Records) -> Any:
        built = build(records)
        return None if built is None else found.envelope(built)

    def prefetched(records: Records) -> dict[tuple[Any, ...], Any]:
        return {(root_key,): prebuilt(records, lambda r: _observation(columns, r))}

    return statement, render, prefetched


def prebuilt(records: Records, build: Callable[[Any], Any]) -> Connection[Any]:
    """The root field's connection over the objects the resolver would have built (only `nodes` is selected:
    the page's cursors, never read, are left empty)."""
    return connection(Page(list(records), False, lambda _r: "", "", []), build)


def _observation(columns: Columns, record: Any) -> Observation:
    observation_row, entity_row = Row(), Row()
    for i, (kind, source) in enumerate(columns.sources):
        (entity_row if kind == ENTITY_KIND else observation_row)[source] = record[i]
    observation = Observation.from_row(observation_row)
    if (ENTITY_KIND, "id") in columns.sources:
        observation._entity = Entity.from_row(entity_row) if entity_row["id"] is not None else None
    return observation


__all__ = ["Nodes", "ObjectCode", "Row", "nodes_of", "observation_page", "prebuilt"]
