"""Read an operation (and field sets such as `@key(fields:)`) into the planner's selection tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from graphql.language import ast

from atlas4d.federation.errors import PlanningError
from atlas4d.federation.planner.selection import Field, Fragment, Selection

INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


@dataclass
class Operation:
    kind: str  # "query" | "mutation" | "subscription"
    name: str | None
    selections: list[Selection]
    variable_definitions: dict[str, ast.VariableDefinitionNode]
    introspection: DocumentNode | None
    # the response shaper's per-type field lists, kept with a cached plan when no @skip/@include can change
    # them (response.py)
    shapes: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def read_operation(document: DocumentNode, operation_name: str | None) -> Operation:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1:
        raise PlanningError(
            f"Unknown operation named '{operation_name}'."
            if operation_name
            else "Must provide operation name if query contains multiple operations."
        )
    operation = operations[0]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    selections = convert_selection_set(operation.selection_set, fragments)
    introspection = _introspection_document(document, operation)
    return Operation(
        kind=operation.operation.value,
        name=operation.name.value if operation.name else None,
        selections=selections,
        variable_definitions={v.variable.name.value: v for v in operation.variable_definitions or ()},
        introspection=introspection,
    )


def convert_selection_set(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    _seen: frozenset[str] = frozenset(),
) -> list[Selection]:
    out: list[Selection] = []
    for node in selection_set.selections if selection_set else ():
        directives = tuple(node.directives or ())
        if isinstance(node, FieldNode):
            children = convert_selection_set(node.selection_set, fragments, _seen)
            out.append(
                Field(
                    name=node.name.value,
                    alias=node.alias.value if node.alias else None,
                    arguments=tuple(node.arguments or ()),
                    directives=directives,
                    selections=children,
                    leaf=node.selection_set is None,
                )
            )
        elif isinstance(node, InlineFragmentNode):
            condition = node.type_condition.name.value if node.type_condition else None
            out.append(
                Fragment(condition, directives, convert_selection_set(node.selection_set, fragments, _seen))
            )
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            definition = fragments.get(name)
            if definition is None or name in _seen:
                raise PlanningError(f'Unknown or cyclic fragment "{name}".')
            inner = convert_selection_set(definition.selection_set, fragments, _seen | {name})
            out.append(Fragment(definition.type_condition.name.value, directives, inner))
    return out


def parse_field_set(field_set: str) -> list[Selection]:
    """Selections of a `join__FieldSet` string such as `"id"` or `"sku pkg { id }"`."""
    document = parse("{" + field_set + "}", no_location=True)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return convert_selection_set(operation.selection_set, {})


def _introspection_document(
    document: DocumentNode, operation: OperationDefinitionNode
) -> DocumentNode | None:
    """The operation reduced to its `__schema`/`__type` root fields (also inside root fragments, named or
    inline), or None when it has none. Root fragment spreads become inline fragments of what they keep."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    kept = _introspection_selections(operation.selection_set, fragments, frozenset())
    if not kept:
        return None
    reduced = OperationDefinitionNode(
        operation=operation.operation,
        name=operation.name,
        variable_definitions=operation.variable_definitions,
        directives=(),
        selection_set=SelectionSetNode(selections=kept),
    )
    # fragments spread inside the introspection fields are executed as they are
    return DocumentNode(definitions=(reduced, *fragments.values()))


def _introspection_selections(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> tuple[ast.SelectionNode, ...]:
    kept: list[ast.SelectionNode] = []
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            if node.name.value in INTROSPECTION_ROOTS:
                kept.append(node)
            continue
        if isinstance(node, InlineFragmentNode):
            inner = _introspection_selections(node.selection_set, fragments, seen)
            condition = node.type_condition
        elif isinstance(node, FragmentSpreadNode):
            definition = fragments.get(node.name.value)
            if definition is None or node.name.value in seen:
                continue
            inner = _introspection_selections(definition.selection_set, fragments, seen | {node.name.value})
            condition = definition.type_condition
        else:
            continue
        if inner:
            kept.append(
                InlineFragmentNode(
                    type_condition=condition,
                    directives=node.directives,
                    selection_set=SelectionSetNode(selections=inner),
                )
            )
    return tuple(kept)
