"""A compiled path for the commonest map queries, each answered by one statement: a page of observations
whose selection is plain fields (and plain fields of their entity), and a page of entities with plain fields
and one page of their observations.

Even with the fast executor, Python spends ~10 µs per observation turning rows into objects and objects
into JSON. Observation pages fetch only the selected columns and build the resolvers' dicts with a generated
function (`atlas4d.core.rows`, ~1 µs a row; byte-identical output); entity pages get their JSON text from
PostgreSQL, which for that shape (100 entities, 10 observations each) measured ~12% more requests per second
than building it in Python, since the entity columns would travel once per observation.
Anything the compiled form does not cover — other fields, fragments, directives, several root fields, a
filter that fails validation — returns None and the operation runs through the normal resolvers, which also
report every error. The filters and pagination are the same code (`ObservationFilter.sql`, keyset cursors),
and `tests/api/test_compiled.py` checks that both paths give the same JSON on a corpus of operations.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
)
from graphql.execution.values import get_argument_values, get_variable_values
from starlette.requests import Request

from atlas4d.core import filters as f
from atlas4d.core import rows
from atlas4d.core.filters import where
from atlas4d.core.position import lat_sql, lon_sql
from atlas4d.core.queries import decode_cursor, entity_filter_sql, observation_after, page_size
from atlas4d.core.rows import response_key
from atlas4d.core.sql import Params
from atlas4d.errors import Atlas4DError
from atlas4d.settings import Settings
from atlas4d.web.graphql_http import FastAnswer


# Each field is an SQL expression giving its JSON *text*; a row is their concatenation in selection order.
# Concatenating text costs PostgreSQL about 30% less than row_to_json of a sub-select (measured: Q1-shaped
# page, 259 -> 371 statements/s at 16 clients on 2 cores). float8::text is the shortest exact form, as JSON
# needs; to_json(text) escapes strings; jsonb::text is valid JSON.
def _text(column: str) -> str:
    return f"coalesce(to_json({column})::text, 'null')"


def _number(column: str) -> str:
    return f"coalesce(({column})::text, 'null')"


def _quoted(column: str) -> str:
    return f"coalesce('\"' || {column} || '\"', 'null')"


def time_sql(column: str) -> str:
    """Python's `isoformat()` of a UTC timestamptz as JSON: microseconds only when non-zero, six digits."""
    return (
        f"CASE WHEN {column} IS NULL THEN 'null' ELSE '\"' || "
        f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
        f"date_part('microseconds', {column})::bigint % 1000000 = 0 THEN '' "
        f"ELSE to_char({column} AT TIME ZONE 'UTC', '.US') END || '+00:00\"' END"
    )


LON, LAT = lon_sql("q"), lat_sql("q")
GEOMETRY = (
    f"CASE WHEN {LON} IS NULL THEN 'null' ELSE '{{\"type\":\"Point\",\"coordinates\":[' || {LON} || ',' "
    f"|| {LAT} || coalesce(',' || q.altitude_m, '') || ']}}' END"
)
OBSERVATION_FIELDS = {
    "id": _quoted("q.id"),
    "time": time_sql("q.t"),
    "lon": _number(LON),
    "lat": _number(LAT),
    "altitude": _number("q.altitude_m"),
    "speed": _number("q.speed_ms"),
    "heading": _number("q.heading_deg"),
    "sourceType": _text("q.source_type"),
    "entityId": _quoted("q.entity_id"),
    "trackId": _quoted("q.track_id"),
    "metadata": "coalesce(q.metadata::text, 'null')",
    "geometry": GEOMETRY,
    "__typename": "'\"Observation\"'",
}
ENTITY_FIELDS = {
    "id": _quoted("e.id"),
    "kind": _text("e.kind"),
    "name": _text("e.name"),
    "sourceType": _text("e.source_type"),
    "properties": "coalesce(e.properties::text, '{}')",
    "createdAt": time_sql("e.created_at"),
    "__typename": "'\"Entity\"'",
}


def _plain(selection_set: SelectionSetNode | None) -> list[FieldNode] | None:
    """The selection's fields when it is only fields without directives or arguments, else None."""
    if selection_set is None:
        return None
    out = []
    for sel in selection_set.selections:
        if not isinstance(sel, FieldNode) or sel.directives or sel.arguments:
            return None
        out.append(sel)
    return out


def _object_sql(fields: list[FieldNode], columns: dict[str, str]) -> str | None:
    """The JSON text of an object with the fields in selection order (an `entity { … }` nested the same
    way), as one SQL text expression; None when a field is not covered."""
    parts = []
    for node in fields:
        name = node.name.value
        if name == "entity" and columns is OBSERVATION_FIELDS:
            inner = _plain(node.selection_set)
            entity_sql = _object_sql(inner, ENTITY_FIELDS) if inner else None
            if entity_sql is None:
                return None
            column = f"CASE WHEN e.id IS NULL THEN 'null' ELSE {entity_sql} END"
        elif name in columns and node.selection_set is None:
            column = columns[name]
        else:
            return None
        # response keys are GraphQL names ([_A-Za-z][_0-9A-Za-z]*): safe inside an SQL and a JSON string
        parts.append(f"'\"{response_key(node)}\":' || {column}")
    return _json_object(parts)


def _filter(value: dict[str, Any] | None) -> f.ObservationFilter:
    """The coerced `ObservationFilter` input (camelCase dict) as the domain filter, validated."""
    if not value:
        return f.ObservationFilter()
    bbox = value.get("bbox")
    near = value.get("near")
    altitude = value.get("altitude")
    time = value.get("time")
    return f.ObservationFilter(
        bbox=f.BBox(bbox["minLon"], bbox["minLat"], bbox["maxLon"], bbox["maxLat"]) if bbox else None,
        within=f.parse_area(value["within"]) if value.get("within") is not None else None,
        near=f.Near(near["lon"], near["lat"], near["radiusMeters"]) if near else None,
        altitude=f.NumberRange(altitude.get("min"), altitude.get("max"), "altitude") if altitude else None,
        time=f.TimeRange.build(time.get("from"), time.get("to"), time.get("last")) if time else None,
        source_types=f.texts(value.get("sourceTypes"), "sourceTypes"),
        entity_ids=f.parse_uuids(value.get("entityIds"), "entityIds"),
        track_ids=f.parse_uuids(value.get("trackIds"), "trackIds"),
        kinds=f.texts(value.get("kinds"), "kinds"),
    )


Render = Callable[[list[asyncpg.Record]], bytes]
Compiled = tuple[str, list[Any], Render]


def compile_observations(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    settings: Settings,
) -> Compiled | None:
    """(SQL, parameters, rows -> response body) when the operation fits the compiled form. The statement
    returns the selected columns only; `atlas4d.core.rows` builds the objects."""
    found = _single_root(schema, document, operation_name, variables, "observations")
    if found is None:
        return None
    root, nodes, coerced = found
    query_type = schema.query_type
    assert query_type is not None
    args = get_argument_values(query_type.fields["observations"], root, coerced)
    params = Params()
    try:
        flt = _filter(args.get("filter"))
        first = page_size(args.get("first"), settings.default_page_size, settings.max_page_size)
        order = args.get("orderBy")
        descending = getattr(order, "name", order) != "TIME_ASC"
        clauses = flt.sql(params, alias="o")
        after = args.get("after")
        if after:
            clauses = [*clauses, observation_after(after, descending, params)]
    except Atlas4DError:
        return None  # the resolvers report it
    node_fields = _plain(nodes.selection_set)
    selection = rows.Selection()
    expression = rows.object_expression(node_fields, rows.OBSERVATION, selection) if node_fields else None
    if expression is None:
        return None
    build = rows.builder(expression)
    d = "DESC" if descending else "ASC"
    page = f"FROM atlas4d.observations_core o {where(clauses)} ORDER BY o.t {d}, o.id {d} LIMIT {params.add(first)}"
    if rows.ENTITY_KEY in selection.columns:
        # the page first, narrow (only the columns used), then its entities
        used = _used_columns(" ".join(selection.columns), "entity_id")
        sql = (
            f"SELECT {', '.join(selection.columns)} FROM (SELECT {used} {page}) q "
            f"LEFT JOIN atlas4d.entities e ON e.id = q.entity_id ORDER BY q.t {d}, q.id {d}"
        )
    else:
        columns = [re.sub(r"\bq\.", "o.", c) for c in selection.columns]
        sql = f"SELECT {', '.join(columns) or '1'} {page}"
    prefix, suffix = _envelope(root, nodes)
    return sql, params.values, lambda records: prefix + orjson.dumps(build(records)) + suffix


def _json_object(members: list[str]) -> str:
    """SQL text of a JSON object from `'"key":' || value` members."""
    return "('{' || " + " || ',' || ".join(members) + " || '}')"


def _json_array(row_sql: str, order: str) -> str:
    """SQL text of a JSON array of the rows' JSON texts, in `order`."""
    return f"'[' || coalesce(string_agg({row_sql}, ',' ORDER BY {order}), '') || ']'"


def _observation_array(row_sql: str, clauses: list[str], descending: bool, limit: str, join: str) -> str:
    """A JSON array of one page of observations (`q`, with entity `e` when joined), newest first or not."""
    d = "DESC" if descending else "ASC"
    return (
        f"{_json_array(row_sql, f'q.t {d}, q.id {d}')} FROM (SELECT {_used_columns(row_sql)} "
        f"FROM atlas4d.observations_core o {where(clauses)} ORDER BY o.t {d}, o.id {d} LIMIT {limit}) q{join}"
    )


def _used_columns(sql: str, *always: str) -> str:
    """`o.<column>` for each `q.<column>` the outer SQL reads (plus the page's order and `always`): a narrow
    page sorts and carries less (Q2-shaped statement ~10% more per second than with `o.*`)."""
    used = sorted({"t", "id", *always, *re.findall(r"\bq\.(\w+)", sql)})
    return ", ".join(f"o.{c}" for c in used)


def _envelope(root: FieldNode, nodes: FieldNode) -> tuple[bytes, bytes]:
    """The response bytes around the array: `{"data":{"<root>":{"<nodes>":` … `}}}`."""
    return b'{"data":{' + orjson.dumps(response_key(root)) + b":{" + orjson.dumps(
        response_key(nodes)
    ) + b":", b"}}}"


def _single_root(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    field: str,
) -> tuple[FieldNode, FieldNode, Any] | None:
    """The root field, its `nodes` field and the coerced variables, when the operation is a query whose
    only root field is `field(...) { nodes { ... } }`."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY or operation.directives:
        return None
    roots = _plain_roots(operation.selection_set, field)
    if roots is None:
        return None
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return None
    return roots[0], roots[1], coerced


def _plain_roots(
    selection_set: SelectionSetNode, field: str = "observations"
) -> tuple[FieldNode, FieldNode] | None:
    """`<field>(...) { nodes { ... } }` as the operation's only root field, else None."""
    if len(selection_set.selections) != 1:
        return None
    root = selection_set.selections[0]
    if not isinstance(root, FieldNode) or root.name.value != field or root.directives:
        return None
    inner = root.selection_set.selections if root.selection_set else ()
    if len(inner) != 1:
        return None
    nodes = inner[0]
    if not isinstance(nodes, FieldNode) or nodes.name.value != "nodes" or nodes.directives or nodes.arguments:
        return None
    return root, nodes


async def answer(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    settings: Settings,
    pool: asyncpg.Pool,
) -> bytes | None:
    """The whole response body when the operation fits the compiled form, else None (resolve normally)."""
    if not settings.compiled_queries:
        return None
    compiled = compile_observations(
        schema, document, operation_name, variables, settings
    ) or compile_entities(schema, document, operation_name, variables, settings)
    if compiled is None:
        return None
    sql, values, render = compiled
    try:
        records = await pool.fetch(sql, *values)
    except asyncpg.PostgresError:
        return None  # the resolvers run it again and report the error the usual way
    return render(records)


def compiled_answer(schema: GraphQLSchema, settings: Settings) -> FastAnswer:
    """The HTTP layer's fast answer for `schema` (core's own, or an API schema where core owns
    `Query.observations`)."""

    async def fast(
        request: Request, document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None
    ) -> bytes | None:
        return await answer(schema, document, operation_name, variables, settings, request.app.state.pool)

    return fast


def compile_entities(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    settings: Settings,
) -> Compiled | None:
    """`entities(...) { nodes { <plain> observations(...) { <plain> } } }` in one statement, else None."""
    found = _single_root(schema, document, operation_name, variables, "entities")
    if found is None:
        return None
    root, nodes, coerced = found
    query_type = schema.query_type
    entity_type = schema.type_map.get("Entity")
    assert query_type is not None and isinstance(entity_type, GraphQLObjectType)
    args = get_argument_values(query_type.fields["entities"], root, coerced)
    params = Params()
    try:
        flt = args.get("filter") or {}
        clauses = entity_filter_sql(
            params,
            f.parse_uuids(flt.get("ids"), "ids"),
            f.texts(flt.get("kinds"), "kinds"),
            f.texts(flt.get("sourceTypes"), "sourceTypes"),
            f.text(flt.get("nameContains"), "nameContains"),
            _filter(flt["observations"]) if flt.get("observations") else None,
        )
        first = page_size(args.get("first"), settings.default_page_size, settings.max_page_size)
        if args.get("after"):
            (value,) = decode_cursor("e", args["after"], 1)
            clauses = [*clauses, f"e.id > {params.add(uuid.UUID(value))}"]
        if nodes.selection_set is None:
            return None
        parts = []
        for node in nodes.selection_set.selections:
            if not isinstance(node, FieldNode) or node.directives:
                return None
            name = node.name.value
            if name == "observations":
                column = _entity_observations_sql(node, entity_type, coerced, params, settings)
            elif name in ENTITY_FIELDS and node.selection_set is None and not node.arguments:
                column = ENTITY_FIELDS[name]
            else:
                return None
            if column is None:
                return None
            parts.append(f"'\"{response_key(node)}\":' || {column}")
    except (Atlas4DError, ValueError):
        return None  # the resolvers report it
    sql = (
        f"SELECT {_json_array(_json_object(parts), 'e.id')} "
        f"FROM (SELECT e.* FROM atlas4d.entities e {where(clauses)} ORDER BY e.id LIMIT {params.add(first)}) e"
    )
    prefix, suffix = _envelope(root, nodes)
    return sql, params.values, lambda records: prefix + records[0][0].encode() + suffix


def _entity_observations_sql(
    node: FieldNode, entity_type: GraphQLObjectType, coerced: Any, params: Params, settings: Settings
) -> str | None:
    """`Entity.observations(time, first, orderBy) { <plain> }` as a JSON array sub-select."""
    fields = _plain(node.selection_set)
    row_sql = _object_sql(fields, OBSERVATION_FIELDS) if fields else None
    if row_sql is None:
        return None
    args = get_argument_values(entity_type.fields["observations"], node, coerced)
    time = args.get("time")
    window = f.TimeRange.build(time.get("from"), time.get("to"), time.get("last")) if time else None
    first = page_size(args.get("first"), settings.default_page_size, settings.max_page_size)
    order = args.get("orderBy")
    descending = getattr(order, "name", order) != "TIME_ASC"
    clauses = ["o.entity_id = e.id", *(window.sql("o.t", params) if window else [])]
    return f"(SELECT {_observation_array(row_sql, clauses, descending, params.add(first), '')})"
