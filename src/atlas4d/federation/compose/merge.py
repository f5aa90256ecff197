"""Merge subgraph models into supergraph types, checking the composition rules on the way.

Subgraphs are visited in name order and fields in the order each subgraph declares them, which is also the order
Apollo composition produces, so the API schemas match field for field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import print_ast
from graphql.language import ast

from atlas4d.federation.compose.model import SubField, SubgraphModel, SubType
from atlas4d.federation.errors import CompositionIssue


@dataclass
class MergedField:
    name: str
    type: ast.TypeNode
    sources: dict[str, SubField] = field(default_factory=dict)
    arguments: list[ast.InputValueDefinitionNode] = field(default_factory=list)
    overridden: dict[str, bool] = field(default_factory=dict)  # graph -> still used (usedOverridden)
    override_labels: dict[str, str] = field(
        default_factory=dict
    )  # progressive @override: origin graph -> label

    @property
    def first(self) -> SubField:
        return next(iter(self.sources.values()))


@dataclass
class MergedType:
    name: str
    kind: str
    sources: dict[str, SubType] = field(default_factory=dict)
    fields: dict[str, MergedField] = field(default_factory=dict)
    values: dict[str, list[str]] = field(default_factory=dict)  # enum value -> graphs
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)

    @property
    def inaccessible(self) -> bool:
        return any(s.inaccessible for s in self.sources.values())

    @property
    def description(self) -> str | None:
        return next((s.description for s in self.sources.values() if s.description), None)


def type_text(node: ast.TypeNode) -> str:
    return print_ast(node)


def _named(node: ast.TypeNode) -> str:
    while not isinstance(node, ast.NamedTypeNode):
        node = node.type  # type: ignore[attr-defined]
    return node.name.value


def _general(a: ast.TypeNode, b: ast.TypeNode, *, output: bool) -> ast.TypeNode | None:
    """The merged type of two subgraph types (nullable wins for outputs, non-null for inputs); None if
    they are incompatible."""
    a_nn, b_nn = isinstance(a, ast.NonNullTypeNode), isinstance(b, ast.NonNullTypeNode)
    a_in = a.type if isinstance(a, ast.NonNullTypeNode) else a
    b_in = b.type if isinstance(b, ast.NonNullTypeNode) else b
    if isinstance(a_in, ast.ListTypeNode) and isinstance(b_in, ast.ListTypeNode):
        inner = _general(a_in.type, b_in.type, output=output)
        merged: ast.TypeNode | None = ast.ListTypeNode(type=inner) if inner is not None else None
    elif isinstance(a_in, ast.NamedTypeNode) and isinstance(b_in, ast.NamedTypeNode):
        merged = a_in if a_in.name.value == b_in.name.value else None
    else:
        merged = None
    if merged is None:
        return None
    non_null = (a_nn and b_nn) if output else (a_nn or b_nn)
    return ast.NonNullTypeNode(type=merged) if non_null else merged  # type: ignore[arg-type]


class Merger:
    def __init__(self, subgraphs: list[SubgraphModel]) -> None:
        self.subgraphs = sorted(subgraphs, key=lambda s: s.name)
        self.by_name = {s.name: s for s in self.subgraphs}
        self.types: dict[str, MergedType] = {}
        self.issues: list[CompositionIssue] = []

    def issue(self, code: str, message: str) -> None:
        self.issues.append(CompositionIssue(code, message))

    def merge(self) -> dict[str, MergedType]:
        for subgraph in self.subgraphs:
            for sub in subgraph.types.values():
                self._merge_type(subgraph.name, sub)
        self._merge_enum_values()
        self._interface_object_fields()
        self._overrides()
        return self.types

    def _merge_type(self, graph: str, sub: SubType) -> None:
        kind = "interface" if sub.interface_object else sub.kind
        merged = self.types.get(sub.name)
        if merged is None:
            merged = self.types[sub.name] = MergedType(sub.name, kind)
        elif merged.kind != kind:
            first = next(iter(merged.sources))
            self.issue(
                "TYPE_KIND_MISMATCH",
                f'Type "{sub.name}" has mismatched kind: it is defined as {merged.kind} in subgraph "{first}" '
                f'but {kind} in subgraph "{graph}"',
            )
            return
        merged.sources[graph] = sub
        for interface in sub.interfaces:
            if interface not in merged.interfaces:
                merged.interfaces.append(interface)
        for member in sub.members:
            if member not in merged.members:
                merged.members.append(member)
        for value in sub.values:
            merged.values.setdefault(value, []).append(graph)
        output = kind != "input"
        for sub_field in sub.fields.values():
            existing = merged.fields.get(sub_field.name)
            if existing is None:
                merged.fields[sub_field.name] = MergedField(
                    sub_field.name, sub_field.type, {graph: sub_field}, list(sub_field.arguments)
                )
                continue
            combined = _general(existing.type, sub_field.type, output=output)
            if combined is None:
                self.issue(
                    "FIELD_TYPE_MISMATCH",
                    f'Type of field "{sub.name}.{sub_field.name}" is incompatible across subgraphs: it has type '
                    f'"{type_text(existing.type)}" in subgraph "{next(iter(existing.sources))}" but type '
                    f'"{type_text(sub_field.type)}" in subgraph "{graph}"',
                )
                continue
            existing.type = combined
            existing.sources[graph] = sub_field
            names = {a.name.value for a in sub_field.arguments}
            existing.arguments = [a for a in existing.arguments if a.name.value in names]
        if kind == "input":  # input fields: only those every subgraph has
            for name in list(merged.fields):
                if any(name not in s.fields for s in merged.sources.values()):
                    del merged.fields[name]

    def _merge_enum_values(self) -> None:
        used_in_input: set[str] = set()
        used_in_output: set[str] = set()
        for merged in self.types.values():
            for merged_field in merged.fields.values():
                (used_in_input if merged.kind == "input" else used_in_output).add(_named(merged_field.type))
                for argument in merged_field.arguments:
                    used_in_input.add(_named(argument.type))
        for merged in self.types.values():
            if merged.kind != "enum":
                continue
            everywhere = {v for v, graphs in merged.values.items() if len(graphs) == len(merged.sources)}
            if merged.name in used_in_input and merged.name in used_in_output:
                if len(everywhere) != len(merged.values):
                    self.issue(
                        "ENUM_VALUE_MISMATCH",
                        f'Enum type "{merged.name}" is used as both input and output type but its values are '
                        f"not the same in every subgraph that defines it",
                    )
            elif merged.name in used_in_input:
                merged.values = {v: g for v, g in merged.values.items() if v in everywhere}

    def _interface_object_fields(self) -> None:
        """Fields an @interfaceObject subgraph adds to an interface are added to every implementation too."""
        for interface in self.types.values():
            if not any(s.interface_object for s in interface.sources.values()):
                continue
            for merged in self.types.values():
                if interface.name not in merged.interfaces:
                    continue
                for name, interface_field in interface.fields.items():
                    if name not in merged.fields:
                        merged.fields[name] = MergedField(
                            name, interface_field.type, {}, list(interface_field.arguments)
                        )

    def _overrides(self) -> None:
        for merged in self.types.values():
            for merged_field in merged.fields.values():
                for sub_field in list(merged_field.sources.values()):
                    origin = sub_field.override
                    if origin is None:
                        continue
                    if origin in merged_field.sources and sub_field.override_label:
                        # progressive override: the origin keeps serving the field while the label is off
                        merged_field.override_labels[origin] = sub_field.override_label
                    elif origin in merged_field.sources:
                        still_used = merged_field.name in self.by_name[origin].key_fields(merged.name)
                        merged_field.overridden[origin] = still_used
                        if not still_used:
                            del merged_field.sources[origin]
