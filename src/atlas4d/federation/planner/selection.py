"""The planner's own selection tree: fields and inline fragments, with merging and printing.

Named fragments are expanded into inline fragments when an operation is read, so the planner only sees two
kinds of node. Arguments and directives stay graphql-core AST nodes and are printed as they came.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from graphql import print_ast
from graphql.language import ast


@dataclass
class Field:
    name: str
    alias: str | None = None
    arguments: tuple[ast.ArgumentNode, ...] = ()
    directives: tuple[ast.DirectiveNode, ...] = ()
    selections: list[Selection] = field(default_factory=list)
    leaf: bool = True

    @property
    def response_key(self) -> str:
        return self.alias or self.name

    def signature(self) -> str:
        args = ",".join(print_ast(a) for a in self.arguments)
        dirs = ",".join(print_ast(d) for d in self.directives)
        return f"{self.response_key}:{self.name}({args}){dirs}"

    def signature_without_alias(self) -> str:
        args = ",".join(print_ast(a) for a in self.arguments)
        return f"{self.name}({args})"

    def shallow(self) -> Field:
        return Field(self.name, self.alias, self.arguments, self.directives, [], self.leaf)


@dataclass
class Fragment:
    type_condition: str | None
    directives: tuple[ast.DirectiveNode, ...] = ()
    selections: list[Selection] = field(default_factory=list)

    def signature(self) -> str:
        dirs = ",".join(print_ast(d) for d in self.directives)
        return f"...{self.type_condition or ''}{dirs}"


Selection = Field | Fragment


def add_selection(target: list[Selection], selection: Selection) -> Selection:
    """Add to a selection list, merging with an equal field or fragment already there; returns the node kept."""
    signature = selection.signature()
    for existing in target:
        if type(existing) is type(selection) and existing.signature() == signature:
            for child in selection.selections:
                add_selection(existing.selections, child)
            return existing
    target.append(selection)
    return selection


def merge_selections(target: list[Selection], selections: Iterable[Selection]) -> None:
    for selection in selections:
        add_selection(target, copy_selection(selection))


def copy_selection(selection: Selection) -> Selection:
    copied: Selection
    if isinstance(selection, Field):
        copied = selection.shallow()
    else:
        copied = Fragment(selection.type_condition, selection.directives)
    copied.selections = [copy_selection(s) for s in selection.selections]
    return copied


def print_selections(selections: list[Selection], indent: int = 0) -> str:
    pad = "  " * indent
    lines = ["{"]
    for selection in selections:
        lines.append(pad + "  " + _print_selection(selection, indent + 1))
    lines.append(pad + "}")
    return "\n".join(lines)


def _print_selection(selection: Selection, indent: int) -> str:
    if isinstance(selection, Field):
        text = f"{selection.alias}: {selection.name}" if selection.alias else selection.name
        if selection.arguments:
            text += "(" + ", ".join(print_ast(a) for a in selection.arguments) + ")"
    else:
        text = "..."
        if selection.type_condition:
            text += f" on {selection.type_condition}"
    for directive in selection.directives:
        text += " " + print_ast(directive)
    if selection.selections:
        text += " " + print_selections(selection.selections, indent)
    return text


def walk_ast(nodes: Iterable[ast.Node]) -> Iterator[ast.Node]:
    for node in nodes:
        yield node
        for key in node.keys:
            if key in ("loc", "kind", "keys"):
                continue
            value = getattr(node, key, None)
            if isinstance(value, ast.Node):
                yield from walk_ast([value])
            elif isinstance(value, tuple | list):
                yield from walk_ast(v for v in value if isinstance(v, ast.Node))


def variables_used(selections: list[Selection]) -> list[str]:
    """Names of the variables a selection tree refers to, in first-use order."""
    found: dict[str, None] = {}

    def visit(items: list[Selection]) -> None:
        for selection in items:
            nodes: list[ast.Node] = list(selection.directives)
            if isinstance(selection, Field):
                nodes.extend(selection.arguments)
            for node in walk_ast(nodes):
                if isinstance(node, ast.VariableNode):
                    found.setdefault(node.name.value, None)
            visit(selection.selections)

    visit(selections)
    return list(found)
