"""A graphql-core executor that completes plain scalar fields directly.

Stock execution spends most of an object's time on per-field machinery: a `Path`, a `GraphQLResolveInfo`,
Strawberry's resolver wrapper and `complete_value`'s dispatch — about 3.5 µs a field. For a *plain* field
(a Strawberry attribute with no resolver, arguments, permissions or extensions, or a resolver-less
graphql-core field, of a scalar or enum type) the answer is `type.coerce_output_value(getattr(source,
attr))`, so this executor computes exactly that and hands every other field to the stock path.

It falls back to the stock path, field by field, whenever the result could differ: a null in a non-null
field (the stock path raises the error and propagates the null), a value the scalar refuses, an
exception object, middleware, or a callable attribute.

Preloaded object fields: a field may declare that its resolver returns `source.<attribute>` whenever that
attribute holds something other than a "not loaded" marker (a look-ahead filled it). The declaration travels
with the schema — `strawberry.field(metadata=preloaded("_entity", NOT_LOADED))`, or the same key in a
graphql-core field's `extensions` — so each schema says it for itself; nothing is registered per process.
The executor then completes that value without calling the resolver, unless the field has permission
classes or field extensions (their code must run: then the stock path calls the resolver).

This module is the one adapter between our code and graphql-core's executor internals: it subclasses
`IncrementalExecutor` (passed as `execute(..., executor_class=FastExecutor)`, graphql-core's public hook)
and overrides `execute_fields` and `complete_iterable_value`, and reuses `execute_field`,
`collect_subfields`, `collect_and_execute_subfields`, `handle_field_error`, `get_stream_usage` and
`settle_in_background`, which graphql-core documents as `:meta private:`. `root_fields` gives the compiled
pages graphql-core's own CollectFields. graphql-core is pinned to 3.3.x in pyproject.toml, and
`tests/unit/test_fast_executor.py` pins these method signatures and compares every answer with stock
execution (the differential test in `tests/api/test_differential.py` does so on random operations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
)
from graphql.execution.collect_fields import GroupedFieldSet, collect_fields
from graphql.execution.incremental import IncrementalExecutor
from graphql.execution.values import VariableValueSource
from graphql.pyutils import Path, Undefined
from graphql.type.scalars import serialize_boolean, serialize_float, serialize_id, serialize_string

from atlas4d.web.coerce import precoerce

STRAWBERRY_BACKREF = "strawberry-definition"
_TYPENAME = object()
_MISSING = object()

# response key -> (attribute name or _TYPENAME, output coercer, non-null, read mappings by key, shortcut),
# or for a preloaded object field (_PRELOAD, attribute, missing marker, object type, return type)
Plain = tuple[Any, Any, Any, Any, Any]

# Shortcuts for values whose coercion is known to return them unchanged (graphql-core's own rules):
# Float returns a finite `float` as is, String and ID a `str`, Boolean a `bool`; Strawberry's DateTime is
# `isoformat()`, which orjson reproduces byte for byte for naive and UTC datetimes (tested).
GENERIC, FLOAT, TEXT, BOOLEAN, DATETIME = range(5)


def _shortcut(leaf: GraphQLScalarType | GraphQLEnumType, coerce: Callable[[Any], Any]) -> int:
    if coerce is serialize_float:
        return FLOAT
    if coerce is serialize_string or coerce is serialize_id:
        return TEXT
    if coerce is serialize_boolean:
        return BOOLEAN
    if leaf.name == "DateTime" and repr(coerce) == "operator.methodcaller('isoformat')":
        return DATETIME
    return GENERIC


def coerce_value(kind: int, coerce: Callable[[Any], Any], value: Any) -> Any:
    """`coerce(value)`, skipping the work when the shortcut applies (same result either way)."""
    kind_of = type(value)
    if kind == FLOAT and kind_of is float and value - value == 0.0:  # finite
        return value
    if kind == TEXT and kind_of is str:
        return value
    if kind == BOOLEAN and kind_of is bool:
        return value
    if kind == DATETIME and kind_of is datetime and (value.tzinfo is None or value.tzinfo is UTC):
        return orjson.dumps(value)[1:-1].decode()
    return coerce(value)


def _plain_field(field: GraphQLField, field_name: str) -> Plain | None:
    """How to complete the field directly, or None when only the stock path may complete it.

    Strawberry's resolver for an attribute is `getattr(source, python_name)`; graphql-core's default
    resolver reads a mapping by key and anything else by attribute. We read exactly as they do."""
    if field.args:
        return None
    return_type = field.type
    non_null = isinstance(return_type, GraphQLNonNull)
    leaf = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    coerce = leaf.coerce_output_value
    if coerce is None:
        return None
    definition = (field.extensions or {}).get(STRAWBERRY_BACKREF)
    if definition is not None:
        if (
            getattr(definition, "base_resolver", None) is not None
            or getattr(definition, "permission_classes", None)
            or getattr(definition, "extensions", None)
        ):
            return None
        return definition.python_name, coerce, non_null, False, _shortcut(leaf, coerce)
    if field.resolve is None:
        return field_name, coerce, non_null, True, _shortcut(leaf, coerce)
    return None


_PRELOAD = object()
PRELOADED = "atlas4d.preloaded"  # the key in a Strawberry field's metadata or a GraphQLField's extensions


@dataclass(frozen=True)
class Preloaded:
    """`source.<attribute>` is the field's value unless it is `missing` (see the module docstring)."""

    attribute: str
    missing: object


def preloaded(attribute: str, missing: object) -> dict[str, Preloaded]:
    """Strawberry field metadata declaring a preloaded field: `strawberry.field(metadata=preloaded(...))`."""
    return {PRELOADED: Preloaded(attribute, missing)}


def _preload_entry(parent: GraphQLObjectType, field: GraphQLField, field_name: str) -> tuple[Any, ...] | None:
    definition = (field.extensions or {}).get(STRAWBERRY_BACKREF)
    if definition is not None:
        if getattr(definition, "permission_classes", None) or getattr(definition, "extensions", None):
            return None  # their code runs around the resolver: let the stock path call it
        declared = (getattr(definition, "metadata", None) or {}).get(PRELOADED)
    else:
        declared = (field.extensions or {}).get(PRELOADED)
    if not isinstance(declared, Preloaded):
        return None
    named = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(named, GraphQLObjectType) or named.is_type_of is not None:
        return None
    return (_PRELOAD, declared.attribute, declared.missing, named, field.type)


class FastExecutor(IncrementalExecutor):
    """IncrementalExecutor with plain scalar fields completed in place (output identical to stock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_plans: dict[int, tuple[GroupedFieldSet, dict[str, Plain] | None]] = {}

    @classmethod
    def build(
        cls,
        schema: Any,
        document: Any,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """graphql-core's build, with big input-object list variables coerced by `atlas4d.web.coerce` (one
        pass, same values; anything it does not coerce, errors included, goes the stock way)."""
        raw = raw_variable_values or {}
        fast = precoerce(schema, document, operation_name, raw) if raw else {}
        # an empty list stands in (valid for every list type): the stock walk skips the big one
        given = {**raw, **{name: [] for name in fast}} if fast else raw_variable_values
        built = super().build(
            schema, document, root_value, context_value, given, operation_name, *args, **kwargs
        )
        if fast and not isinstance(built, list):
            values = built.variable_values
            for name, coerced in fast.items():
                values.coerced[name] = coerced
                values.sources[name] = VariableValueSource(values.sources[name].signature, raw[name])
        return built

    def root_fields(self) -> GroupedFieldSet | None:
        """The operation's root fields grouped by response key (graphql-core's CollectFields: fragments,
        @skip/@include, merging), or None when it defers something."""
        root_type = self.schema.get_root_type(self.operation.operation)
        if root_type is None:
            return None
        grouped, defers, _forbidden = collect_fields(
            self.schema, self.fragments, self.variable_values, root_type, self.operation
        )
        return None if defers else grouped

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> dict[str, Plain] | None:
        # grouped field sets are memoised per parent field, so one plan serves every item of a list; the
        # set is kept in the cache so its id cannot be reused while we hold the plan
        key = id(grouped_field_set)
        cached = self._plain_plans.get(key)
        if cached is not None and cached[0] is grouped_field_set:
            return cached[1]
        plan: dict[str, Plain] = {}
        fields = parent_type.fields
        for response_name, details in grouped_field_set.items():
            name = details[0].node.name.value
            if name == "__typename":
                plan[response_name] = (_TYPENAME, None, True, False, GENERIC)
                continue
            field = fields.get(name)
            if field is None:
                continue
            plain = _plain_field(field, name) or _preload_entry(parent_type, field, name)
            if plain is not None:
                plan[response_name] = plain
        result = plan or None
        self._plain_plans[key] = (grouped_field_set, result)
        return result

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = None if self.middleware_manager else self._plan(parent_type, grouped_field_set)
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        is_mapping = isinstance(source_value, Mapping)
        try:
            for response_name, details in grouped_field_set.items():
                plain = plan.get(response_name)
                if plain is not None and plain[0] is _PRELOAD:
                    _marker, attribute, missing, named, return_type = plain
                    preloaded = getattr(source_value, attribute, missing)
                    if preloaded is not missing and (preloaded is not None or named is return_type):
                        result = self._complete_preloaded(
                            named, return_type, details, Path(path, response_name, parent_type.name),
                            preloaded, position_context,
                        )  # fmt: skip
                        results[response_name] = result
                        if is_awaitable(result):
                            awaitable_fields.append(response_name)
                        continue
                elif plain is not None:
                    attr, coerce, non_null, by_key, kind = plain
                    if attr is _TYPENAME:
                        results[response_name] = parent_type.name
                        continue
                    if by_key and is_mapping:
                        value = source_value.get(attr)
                    else:
                        value = getattr(source_value, attr, _MISSING)
                    if value is _MISSING:
                        pass  # the stock path reports it
                    elif value is None:
                        if not non_null:
                            results[response_name] = None
                            continue
                    elif not callable(value) and not isinstance(value, Exception):
                        assert coerce is not None
                        try:
                            coerced = coerce_value(kind, coerce, value)
                        except Exception:
                            coerced = None  # the stock path reports it with the field's path
                        if coerced is not None and coerced is not Undefined:
                            results[response_name] = coerced
                            continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._await_fields(results, awaitable_fields)

    def _complete_preloaded(
        self,
        named: GraphQLObjectType,
        return_type: GraphQLOutputType,
        details: Any,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """What stock `execute_field` + `complete_value` do for an object the resolver would have returned."""
        if value is None:
            return None  # only reached for a nullable field
        try:
            completed = self.collect_and_execute_subfields(named, details, path, value, position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None
        if self.is_awaitable(completed):

            async def await_completed() -> Any:
                try:
                    return await completed
                except Exception as raw_error:
                    self.handle_field_error(raw_error, return_type, details, path)
                    return None

            return await_completed()
        return completed

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        rows = self._plain_rows(item_type, field_details_list, path, items)
        if rows is not None:
            return rows
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def _plain_rows(
        self, item_type: GraphQLOutputType, field_details_list: Any, path: Path, items: Any
    ) -> Any:
        """Rows built in one loop when every selected field of a list of objects is plain, else None."""
        if not isinstance(items, list | tuple) or self.middleware_manager:
            return None
        item_non_null = isinstance(item_type, GraphQLNonNull)
        named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(named, GraphQLObjectType) or named.is_type_of is not None:
            return None
        if self.get_stream_usage(field_details_list, path) is not None:
            return None
        grouped_field_set, new_defer_usages, _forbidden = self.collect_subfields(named, field_details_list)
        if new_defer_usages:
            return None
        plan = self._plan(named, grouped_field_set)
        if (
            plan is None
            or len(plan) != len(grouped_field_set)
            or any(p[0] is _PRELOAD for p in plan.values())
        ):
            return None
        columns = [(key, *plan[key]) for key in grouped_field_set]
        type_name = named.name
        rows: list[Any] = []
        append = rows.append
        for item in items:
            if item is None:
                if item_non_null:
                    return None
                append(None)
                continue
            if isinstance(item, Mapping):
                return None  # dict sources take the stock path (attribute vs key lookups differ per field)
            row: dict[str, Any] = {}
            for key, attr, coerce, non_null, _by_key, kind in columns:
                if attr is _TYPENAME:
                    row[key] = type_name
                    continue
                value: Any = getattr(item, attr, _MISSING)
                if value is None:
                    if non_null:
                        return None
                    row[key] = None
                    continue
                kind_of = type(value)
                # the common cases inline (see coerce_value), everything else through it
                if kind == FLOAT and kind_of is float and value - value == 0.0:
                    row[key] = value
                    continue
                if kind == TEXT and kind_of is str:
                    row[key] = value
                    continue
                if kind == DATETIME and kind_of is datetime and (value.tzinfo is None or value.tzinfo is UTC):
                    row[key] = orjson.dumps(value)[1:-1].decode()
                    continue
                if (
                    value is _MISSING
                    or callable(value)
                    or isinstance(value, Exception)
                    or self.is_awaitable(value)
                ):
                    return None
                try:
                    coerced = coerce_value(kind, coerce, value)
                except Exception:
                    return None
                if coerced is None or coerced is Undefined:
                    return None
                row[key] = coerced
            append(row)
        return rows

    async def _await_fields(self, results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
        from graphql.pyutils import gather_with_cancel

        if len(awaitable_fields) == 1:
            field = awaitable_fields[0]
            results[field] = await results[field]
        else:
            awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
            results.update(zip(awaitable_fields, awaited, strict=True))
        return results
