"""Validation rules that bound the cost of an operation: selection depth and alias count.

(Token count is bounded by graphql-core's parser itself, `parse(max_tokens=...)`.)
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from atlas4d.errors import QueryTooComplex


def _depth(
    node: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> int:
    if node is None:
        return 0
    deepest = 0
    for sel in node.selections:
        if isinstance(sel, FieldNode):
            if sel.name.value.startswith("__"):
                continue  # introspection depth is bounded by the schema itself
            deepest = max(deepest, 1 + _depth(sel.selection_set, fragments, seen))
        elif isinstance(sel, InlineFragmentNode):
            deepest = max(deepest, _depth(sel.selection_set, fragments, seen))
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            frag = fragments.get(name)
            if frag is not None and name not in seen:
                deepest = max(deepest, _depth(frag.selection_set, fragments, seen | {name}))
    return deepest


def _aliases(
    node: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> int:
    if node is None:
        return 0
    total = 0
    for sel in node.selections:
        if isinstance(sel, FieldNode):
            total += (1 if sel.alias is not None else 0) + _aliases(sel.selection_set, fragments, seen)
        elif isinstance(sel, InlineFragmentNode):
            total += _aliases(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            frag = fragments.get(name)
            if frag is not None and name not in seen:
                total += _aliases(frag.selection_set, fragments, seen | {name})
    return total


def limit_rules(max_depth: int, max_aliases: int) -> list[type[ASTValidationRule]]:
    class CostLimits(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            definitions = self.context.document.definitions
            fragments = {f.name.value: f for f in definitions if isinstance(f, FragmentDefinitionNode)}
            depth = _depth(node.selection_set, fragments, frozenset())
            if depth > max_depth:
                self.report_error(_error(f"selection depth is {depth}; the limit is {max_depth}", node))
            aliases = _aliases(node.selection_set, fragments, frozenset())
            if aliases > max_aliases:
                self.report_error(_error(f"{aliases} aliases; the limit is {max_aliases}", node))

    return [CostLimits]


def _error(message: str, node: OperationDefinitionNode) -> GraphQLError:
    exc = QueryTooComplex(message)
    return GraphQLError(message, node, original_error=exc, extensions=exc.extensions)
