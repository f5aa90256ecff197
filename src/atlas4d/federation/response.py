"""Shape merged subgraph data to the client's operation, per the GraphQL spec.

Fields the planner added (keys, `@requires` inputs, `__typename`) are dropped, `@skip`/`@include` and fragment
type conditions are applied, `__typename` is answered from the runtime type, and a null in a non-null position
propagates to the nearest nullable parent, with an error at that path unless a subgraph error already explains it.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.language import ast

from atlas4d.federation.planner.operation import Operation
from atlas4d.federation.planner.selection import Field, Selection

JSON = dict[str, Any]
_BUBBLE = object()


def shape_response(
    schema: GraphQLSchema, operation: Operation, data: JSON, variables: JSON, errors: list[JSON]
) -> tuple[JSON | None, list[JSON]]:
    root = {"mutation": schema.mutation_type, "subscription": schema.subscription_type}.get(
        operation.kind, schema.query_type
    )
    assert root is not None
    # Field lists depend on the variables only through @skip/@include: without them, the operation (which a
    # cached plan keeps) holds them for every request.
    if "conditional" not in operation.shapes:
        operation.shapes["conditional"] = _has_directives(operation.selections)
    shaper = _Shaper(schema, variables, errors, {} if operation.shapes["conditional"] else operation.shapes)
    result = shaper.object(root, root, operation.selections, data, None)
    return (None if result is _BUBBLE else result), shaper.errors


def _has_directives(selections: list[Selection]) -> bool:
    return any(s.directives or _has_directives(s.selections) for s in selections)


# A response path built only when an error needs it: (parent, key), the root None.
LazyPath = tuple[Any, str | int] | None


def path_list(path: LazyPath) -> list[str | int]:
    steps: list[str | int] = []
    while path is not None:
        path, step = path
        steps.append(step)
    steps.reverse()
    return steps


def included(directives: tuple[ast.DirectiveNode, ...], variables: JSON) -> bool:
    """What @skip/@include say for these (coerced) variables."""
    for directive in directives:
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        value: Any = True
        for argument in directive.arguments or ():
            if argument.name.value == "if":
                node = argument.value
                if isinstance(node, ast.VariableNode):
                    value = bool(variables.get(node.name.value))
                elif isinstance(node, ast.BooleanValueNode):
                    value = node.value
        if (name == "skip" and value) or (name == "include" and not value):
            return False
    return True


def anything_included(selections: list[Selection], variables: JSON) -> bool:
    """Whether a fetch's selections select anything once @skip/@include are applied."""
    for selection in selections:
        if not included(selection.directives, variables):
            continue
        if isinstance(selection, Field) or anything_included(selection.selections, variables):
            return True
    return False


# (response key, field name, type, sub-selections, scalar: 0 no, 1 nullable, 2 non-null)
_ShapedField = tuple[str, str, GraphQLOutputType | None, list[Selection], int]
# the fields, and when every one is a scalar, their response keys (copied with no per-field work)
_Shape = tuple[list[_ShapedField], tuple[str, ...] | None, tuple[str, ...]]


class _Shaper:
    def __init__(
        self, schema: GraphQLSchema, variables: JSON, errors: list[JSON], cache: dict[Any, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.errors = list(errors)
        self._field_cache: dict[Any, _Shape] = cache

    def _included(self, directives: tuple[ast.DirectiveNode, ...]) -> bool:
        return included(directives, self.variables)

    def _applies(self, condition: str | None, runtime: GraphQLOutputType) -> bool:
        if condition is None or condition == getattr(runtime, "name", None):
            return True
        cond = self.schema.get_type(condition)
        if cond is None or not is_abstract_type(cond) or not is_object_type(runtime):
            return False
        return self.schema.is_sub_type(cond, runtime)

    def _collect(
        self, runtime: GraphQLOutputType, selections: list[Selection], out: dict[str, list[Field]]
    ) -> None:
        for selection in selections:
            if not self._included(selection.directives):
                continue
            if isinstance(selection, Field):
                out.setdefault(selection.response_key, []).append(selection)
            elif self._applies(selection.type_condition, runtime):
                self._collect(runtime, selection.selections, out)

    def _null_error(self, lazy: LazyPath, parent: str, field: str) -> None:
        path = path_list(lazy)
        for error in self.errors:
            other = error.get("path")
            if other and (other[: len(path)] == path or path[: len(other)] == other):
                return  # a subgraph error at this path (or inside it) already explains this null
        self.errors.append(
            {"message": f"Cannot return null for non-nullable field {parent}.{field}.", "path": list(path)}
        )

    def _fields(self, runtime: GraphQLOutputType, selections: list[Selection]) -> _Shape:
        """(response key, field name, type, sub-selections, scalar) per response key; the same for every object
        of a list, so worked out once per request (or once per cached plan). `scalar`: 1 for a nullable custom or
        built-in scalar, 2 for a non-null one, 0 otherwise — those values are copied as they are, without walking
        their type per value."""
        cache_key = (id(selections), getattr(runtime, "name", ""))
        cached = self._field_cache.get(cache_key)
        if cached is not None:
            return cached
        collected: dict[str, list[Field]] = {}
        self._collect(runtime, selections, collected)
        definitions = getattr(runtime, "fields", {})
        fields: list[_ShapedField] = []
        for key, nodes in collected.items():
            name = nodes[0].name
            definition = definitions.get(name)
            children = [s for node in nodes for s in node.selections]
            field_type = definition.type if definition is not None else None
            scalar = 0
            if isinstance(field_type, GraphQLScalarType):
                scalar = 1
            elif isinstance(field_type, GraphQLNonNull) and isinstance(field_type.of_type, GraphQLScalarType):
                scalar = 2
            fields.append((key, name, field_type, children, scalar))
        scalars = tuple(f[0] for f in fields) if all(f[4] for f in fields) else None
        shape = (fields, scalars, tuple(f[0] for f in fields if f[4] == 2))
        self._field_cache[cache_key] = shape
        return shape

    def object(
        self,
        declared: GraphQLOutputType,
        runtime: GraphQLOutputType,
        selections: list[Selection],
        value: JSON,
        path: LazyPath,
    ) -> Any:
        fields, scalars, non_null = self._fields(runtime, selections)
        if scalars is not None:  # only scalars: copied, then checked
            out: JSON = {key: value.get(key) for key in scalars}
            if not non_null or None not in map(out.__getitem__, non_null):
                return out
        out = {}
        for key, name, field_type, children, scalar in fields:
            if scalar:
                item = value.get(key)
                if item is None and scalar == 2:
                    self._null_error((path, key), getattr(runtime, "name", ""), name)
                    return _BUBBLE
                out[key] = item
                continue
            if name == "__typename":
                out[key] = getattr(runtime, "name", None)
                continue
            if name in ("__schema", "__type") and path is None:
                out[key] = value.get(key)  # answered by graphql-core on the API schema, already shaped
                continue
            if field_type is None:
                continue
            result = self.value(field_type, children, value.get(key), (path, key))
            if result is _BUBBLE:
                self._null_error((path, key), getattr(runtime, "name", ""), name)
                return _BUBBLE
            out[key] = result
        return out

    def _objects(
        self,
        object_type: GraphQLObjectType,
        selections: list[Selection],
        values: list[Any],
        path: LazyPath,
        non_null: bool,
    ) -> list[Any] | None:
        """A list of one object type (`[T]`, `[T!]`): its fields worked out once for the list, objects of
        scalars copied, the rest as `value` would (a null or bubbling item nulls the list when items are
        non-null)."""
        _, scalars, required = self._fields(object_type, selections)
        items: list[Any] = []
        for index, item in enumerate(values):
            result: Any = None
            if isinstance(item, dict):
                if scalars is not None:
                    result = {key: item.get(key) for key in scalars}
                    if required and None in map(result.__getitem__, required):
                        result = self.object(object_type, object_type, selections, item, (path, index))
                else:
                    result = self.object(object_type, object_type, selections, item, (path, index))
                if result is _BUBBLE:
                    result = None
            if result is None and non_null:
                return None
            items.append(result)
        return items

    def value(
        self, field_type: GraphQLOutputType, selections: list[Selection], value: Any, path: LazyPath
    ) -> Any:
        if is_non_null_type(field_type):
            assert isinstance(field_type, GraphQLNonNull)
            inner = self.value(field_type.of_type, selections, value, path)
            return _BUBBLE if inner is None or inner is _BUBBLE else inner
        if value is None:
            return None
        if is_list_type(field_type):
            assert isinstance(field_type, GraphQLList)
            if not isinstance(value, list):
                return None
            item_type = field_type.of_type
            non_null = isinstance(item_type, GraphQLNonNull)
            base = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
            if isinstance(base, GraphQLObjectType):
                return self._objects(base, selections, value, path, non_null)
            items = []
            for index, item in enumerate(value):
                result = self.value(field_type.of_type, selections, item, (path, index))
                if result is _BUBBLE:
                    return None
                items.append(result)
            return items
        if isinstance(field_type, GraphQLEnumType):
            if isinstance(value, str) and value in field_type.values:
                return value
            # A value the API schema does not have (another subgraph's, or @inaccessible).
            self.errors.append(
                {
                    "message": f'Enum "{field_type.name}" cannot represent value: {orjson.dumps(value).decode()}',
                    "path": path_list(path),
                }
            )
            return None
        if is_leaf_type(field_type):
            return value
        if not isinstance(value, dict):
            return None
        runtime: GraphQLOutputType = field_type
        if is_abstract_type(field_type):
            typename = value.get("__typename")
            found = self.schema.get_type(str(typename))
            if isinstance(found, GraphQLObjectType):
                runtime = found
            elif typename is not None and found is None:
                # an object of a type the API schema hides (@inaccessible): never shown as something else
                self.errors.append(
                    {
                        "message": f'Abstract type "{getattr(field_type, "name", "")}" was resolved to a type '
                        f'"{typename}" that does not exist inside the schema.',
                        "path": path_list(path),
                    }
                )
                return None
        result = self.object(field_type, runtime, selections, value, path)
        return None if result is _BUBBLE else result
