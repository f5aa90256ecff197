"""Read a Federation 2 supergraph SDL in Apollo's format.

The supergraph is the composed schema carrying `@link` feature declarations and the `join__*` directives that say
which subgraph resolves what. `Supergraph.parse` turns it into typed join metadata (what the planner reads) and the
public API schema (what clients see: federation internals and `@inaccessible` elements removed).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from graphql import (
    BooleanValueNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueNode,
    GraphQLSchema,
    ListValueNode,
    Node,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    build_ast_schema,
    get_named_type,
    parse,
    print_ast,
)
from graphql.language import ast

from atlas4d.federation.errors import SupergraphError

JOIN_SPEC = "https://specs.apollo.dev/join/"
LINK_SPEC = "https://specs.apollo.dev/link/"
INACCESSIBLE_SPEC = "https://specs.apollo.dev/inaccessible/"
CONTEXT_SPEC = "https://specs.apollo.dev/context/"


@dataclass(frozen=True)
class SubgraphInfo:
    """One subgraph named by `join__Graph`."""

    name: str
    enum_value: str
    url: str


@dataclass(frozen=True)
class TypeJoin:
    """One `@join__type` on a type: the subgraph defines the type (with this key, if any)."""

    graph: str
    key: str | None = None
    extension: bool = False
    resolvable: bool = True
    is_interface_object: bool = False


@dataclass(frozen=True)
class FieldJoin:
    """One `@join__field`; `graph` is None for the bare form (no subgraph resolves the field on this type)."""

    graph: str | None
    requires: str | None = None
    provides: str | None = None
    type: str | None = None
    external: bool = False
    override: str | None = None
    used_overridden: bool = False
    override_label: str | None = None  # progressive @override(label:)
    context_arguments: tuple[ContextArgument, ...] = ()  # @fromContext arguments (join v0.5)


@dataclass(frozen=True)
class ContextArgument:
    """One `join__ContextArgument`: the field argument `name` takes its value from the nearest ancestor
    object that sets `context`, selecting `selection` on it (`@fromContext(field: "$ctx { id }")`)."""

    name: str
    type: str
    context: str
    selection: str


@dataclass(frozen=True)
class LinkedFeature:
    url: str
    name: str
    prefix: str
    imports: tuple[tuple[str, str], ...]  # (original name, local name), both without "@"

    def owns_directive(self, directive: str) -> bool:
        return (
            directive == self.prefix
            or directive.startswith(self.prefix + "__")
            or any(local == directive for _, local in self.imports)
        )

    def owns_type(self, type_name: str) -> bool:
        return type_name.startswith(self.prefix + "__") or any(
            local == type_name for _, local in self.imports
        )


@dataclass
class Supergraph:
    """Join metadata of a supergraph plus its public API schema."""

    sdl: str
    graphs: dict[str, SubgraphInfo]
    api_schema: GraphQLSchema
    type_joins: dict[str, list[TypeJoin]] = field(default_factory=dict)
    field_joins: dict[tuple[str, str], list[FieldJoin]] = field(default_factory=dict)
    implements: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    union_members: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    enum_values: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    features: list[LinkedFeature] = field(default_factory=list)
    # Full supergraph field types (including @inaccessible ones the planner may still need, e.g. keys).
    field_types: dict[tuple[str, str], str] = field(default_factory=dict)
    field_type_texts: dict[tuple[str, str], str] = field(default_factory=dict)  # "[ID!]!"
    # @context(name:) on types: context name -> the types that set it (from the context spec)
    contexts: dict[str, list[str]] = field(default_factory=dict)
    field_list_depths: dict[tuple[str, str], int] = field(default_factory=dict)
    type_kinds: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, sdl: str) -> Supergraph:
        return parse_supergraph(sdl)

    # --- questions the planner asks -------------------------------------------------------------------------
    def graphs_of_type(self, type_name: str) -> list[str]:
        return list(dict.fromkeys(j.graph for j in self.type_joins.get(type_name, [])))

    def type_join(self, type_name: str, graph: str) -> list[TypeJoin]:
        return [j for j in self.type_joins.get(type_name, []) if j.graph == graph]

    def keys(self, type_name: str, graph: str, *, resolvable_only: bool = True) -> list[str]:
        return [
            j.key
            for j in self.type_join(type_name, graph)
            if j.key is not None and (j.resolvable or not resolvable_only)
        ]

    def is_interface_object(self, type_name: str, graph: str) -> bool:
        return any(j.is_interface_object for j in self.type_join(type_name, graph))

    def field_join(self, type_name: str, field_name: str, graph: str) -> FieldJoin | None:
        for j in self.field_joins.get((type_name, field_name), []):
            if j.graph == graph:
                return j
        return None

    def resolving_graphs(self, type_name: str, field_name: str) -> list[str]:
        """Subgraphs that resolve `type.field` by themselves (not external, not overridden)."""
        joins = self.field_joins.get((type_name, field_name))
        if joins is None:
            return self.graphs_of_type(type_name)
        return [j.graph for j in joins if j.graph is not None and not j.external and not j.used_overridden]

    def can_resolve(self, type_name: str, field_name: str, graph: str) -> bool:
        if field_name == "__typename":
            return True
        return graph in self.resolving_graphs(type_name, field_name)

    def knows_field(self, type_name: str, field_name: str, graph: str) -> bool:
        """The subgraph's schema has the field (possibly as @external): it may appear in its selections."""
        joins = self.field_joins.get((type_name, field_name))
        if joins is None:
            return graph in self.graphs_of_type(type_name)
        return any(j.graph == graph for j in joins)

    def interfaces_in_graph(self, type_name: str, graph: str) -> list[str]:
        return [i for g, i in self.implements.get(type_name, []) if g == graph]

    def possible_types_in_graph(self, abstract: str, graph: str) -> list[str]:
        """Concrete types the subgraph may return for an abstract type."""
        if self.type_kinds.get(abstract) == "union":
            return [m for g, m in self.union_members.get(abstract, []) if g == graph]
        found = []
        for type_name, impls in self.implements.items():
            if (graph, abstract) in impls and self.type_kinds.get(type_name) == "object":
                found.append(type_name)
        return found

    def field_type(self, type_name: str, field_name: str) -> str:
        return self.field_types[(type_name, field_name)]


def _arg(directive: DirectiveNode, name: str) -> ast.ValueNode | None:
    for argument in directive.arguments or ():
        if argument.name.value == name:
            return argument.value
    return None


def _str_arg(directive: DirectiveNode, name: str) -> str | None:
    value = _arg(directive, name)
    if isinstance(value, StringValueNode):
        return value.value
    if isinstance(value, EnumValueNode):
        return value.value
    return None


def _bool_arg(directive: DirectiveNode, name: str, default: bool) -> bool:
    value = _arg(directive, name)
    return value.value if isinstance(value, BooleanValueNode) else default


_URL = re.compile(r"/(?P<name>[A-Za-z_][A-Za-z0-9_-]*)/v(?P<version>\d+\.\d+)$")


def _features(document: DocumentNode) -> list[LinkedFeature]:
    found = []
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | ast.SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value != "link":
                continue
            url = _str_arg(directive, "url") or ""
            match = _URL.search(url)
            if match is None:
                continue
            name = match.group("name")
            imports: list[tuple[str, str]] = []
            value = _arg(directive, "import")
            for item in value.values if isinstance(value, ListValueNode) else ():
                if isinstance(item, StringValueNode):
                    imports.append((item.value.lstrip("@"), item.value.lstrip("@")))
                elif isinstance(item, ast.ObjectValueNode):
                    fields = {f.name.value: f.value for f in item.fields or ()}
                    original, alias = fields.get("name"), fields.get("as")
                    if isinstance(original, StringValueNode):
                        local = alias.value if isinstance(alias, StringValueNode) else original.value
                        imports.append((original.value.lstrip("@"), local.lstrip("@")))
            found.append(LinkedFeature(url, name, _str_arg(directive, "as") or name, tuple(imports)))
    return found


def parse_supergraph(sdl: str) -> Supergraph:
    """Parse a supergraph SDL; raise SupergraphError when it is not a Federation 2 supergraph."""
    try:
        document = parse(sdl)
    except Exception as exc:
        raise SupergraphError(f"supergraph SDL does not parse: {exc}") from exc
    features = _features(document)
    join = next((f for f in features if f.url.startswith(JOIN_SPEC)), None)
    if join is None:
        raise SupergraphError("not a Federation 2 supergraph: no @link to the join spec")
    prefix = join.prefix
    graphs = _graphs(document, prefix)
    by_enum = {g.enum_value: g.name for g in graphs.values()}
    supergraph = Supergraph(sdl=sdl, graphs=graphs, api_schema=GraphQLSchema(), features=features)
    context_feature = next((f for f in features if f.url.startswith(CONTEXT_SPEC)), None)
    context = context_feature.prefix if context_feature else None
    for definition in document.definitions:
        if not isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            continue
        name = definition.name.value
        if join.owns_type(name) or any(f.owns_type(name) for f in features):
            continue
        _read_type(supergraph, definition, prefix, by_enum, context)
    supergraph.api_schema = build_api_schema(document, features)
    return supergraph


def _graphs(document: DocumentNode, prefix: str) -> dict[str, SubgraphInfo]:
    for definition in document.definitions:
        if isinstance(definition, EnumTypeDefinitionNode) and definition.name.value == f"{prefix}__Graph":
            graphs = {}
            for value in definition.values or ():
                for directive in value.directives or ():
                    if directive.name.value == f"{prefix}__graph":
                        name = _str_arg(directive, "name") or value.name.value.lower()
                        graphs[name] = SubgraphInfo(name, value.name.value, _str_arg(directive, "url") or "")
            return graphs
    raise SupergraphError(f"supergraph has no {prefix}__Graph enum")


def _kind(definition: Node) -> str:
    kind = type(definition).__name__
    for prefix, label in (
        ("ObjectType", "object"),
        ("InterfaceType", "interface"),
        ("UnionType", "union"),
        ("EnumType", "enum"),
        ("InputObjectType", "input"),
        ("ScalarType", "scalar"),
    ):
        if kind.startswith(prefix):
            return label
    return "unknown"


def _read_type(
    sg: Supergraph, definition: Node, prefix: str, by_enum: dict[str, str], context: str | None = None
) -> None:
    assert isinstance(definition, TypeDefinitionNode | TypeExtensionNode)
    name = definition.name.value
    sg.type_kinds[name] = _kind(definition)
    for directive in definition.directives or ():
        directive_name = directive.name.value
        if directive_name == context:
            sg.contexts.setdefault(_str_arg(directive, "name") or "", []).append(name)
            continue
        graph = by_enum.get(_str_arg(directive, "graph") or "")
        if graph is None:
            continue
        if directive_name == f"{prefix}__type":
            sg.type_joins.setdefault(name, []).append(
                TypeJoin(
                    graph=graph,
                    key=_str_arg(directive, "key"),
                    extension=_bool_arg(directive, "extension", False),
                    resolvable=_bool_arg(directive, "resolvable", True),
                    is_interface_object=_bool_arg(directive, "isInterfaceObject", False),
                )
            )
        elif directive_name == f"{prefix}__implements":
            sg.implements.setdefault(name, []).append((graph, _str_arg(directive, "interface") or ""))
        elif directive_name == f"{prefix}__unionMember":
            sg.union_members.setdefault(name, []).append((graph, _str_arg(directive, "member") or ""))
    for value in getattr(definition, "values", None) or ():
        if isinstance(value, ast.EnumValueDefinitionNode):
            sg.enum_values[(name, value.name.value)] = [
                by_enum[g]
                for d in value.directives or ()
                if d.name.value == f"{prefix}__enumValue" and (g := _str_arg(d, "graph") or "") in by_enum
            ]
    for field_node in getattr(definition, "fields", None) or ():
        field_name = field_node.name.value
        sg.field_types[(name, field_name)] = get_named_type_name(field_node.type)
        sg.field_type_texts[(name, field_name)] = print_ast(field_node.type)
        sg.field_list_depths[(name, field_name)] = _list_depth(field_node.type)
        joins = [d for d in field_node.directives or () if d.name.value == f"{prefix}__field"]
        if not joins:
            continue
        sg.field_joins[(name, field_name)] = [
            FieldJoin(
                graph=by_enum.get(_str_arg(d, "graph") or ""),
                requires=_str_arg(d, "requires"),
                provides=_str_arg(d, "provides"),
                type=_str_arg(d, "type"),
                external=_bool_arg(d, "external", False),
                override=_str_arg(d, "override"),
                used_overridden=_bool_arg(d, "usedOverridden", False),
                override_label=_str_arg(d, "overrideLabel"),
                context_arguments=_context_arguments(d),
            )
            for d in joins
        ]


def _context_arguments(directive: DirectiveNode) -> tuple[ContextArgument, ...]:
    value = _arg(directive, "contextArguments")
    found: list[ContextArgument] = []
    for item in value.values if isinstance(value, ListValueNode) else ():
        if not isinstance(item, ast.ObjectValueNode):
            continue
        fields = {f.name.value: f.value for f in item.fields or ()}
        texts = {k: v.value for k, v in fields.items() if isinstance(v, StringValueNode)}
        if {"name", "type", "context", "selection"} <= set(texts):
            found.append(ContextArgument(texts["name"], texts["type"], texts["context"], texts["selection"]))
    return tuple(found)


def get_named_type_name(type_node: ast.TypeNode) -> str:
    while not isinstance(type_node, ast.NamedTypeNode):
        type_node = type_node.type  # type: ignore[attr-defined]
    return type_node.name.value


def _list_depth(type_node: ast.TypeNode) -> int:
    depth = 0
    while not isinstance(type_node, ast.NamedTypeNode):
        depth += isinstance(type_node, ast.ListTypeNode)
        type_node = type_node.type  # type: ignore[attr-defined]
    return depth


# --- API schema -----------------------------------------------------------------------------------------------


def build_api_schema(document: DocumentNode, features: Sequence[LinkedFeature]) -> GraphQLSchema:
    """The schema clients see: every linked feature's directives and types removed, `@inaccessible` pruned."""
    inaccessible = next((f for f in features if f.url.startswith(INACCESSIBLE_SPEC)), None)
    hidden_name = inaccessible.prefix if inaccessible else None
    hidden_types = {
        d.name.value
        for d in document.definitions
        if isinstance(d, TypeDefinitionNode) and _hidden(d, hidden_name)
    }
    definitions: list[ast.DefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, DirectiveDefinitionNode):
            if any(f.owns_directive(definition.name.value) for f in features):
                continue
            definitions.append(definition)
            continue
        if isinstance(definition, SchemaDefinitionNode | ast.SchemaExtensionNode):
            definitions.append(dataclasses.replace(definition, directives=()))
            continue
        if isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            name = definition.name.value
            if any(f.owns_type(name) for f in features) or _hidden(definition, hidden_name):
                continue
            definitions.append(
                cast(ast.DefinitionNode, _clean(definition, features, hidden_name, hidden_types))
            )
            continue
        definitions.append(definition)
    try:
        return build_ast_schema(DocumentNode(definitions=tuple(definitions)), assume_valid_sdl=True)
    except Exception as exc:
        raise SupergraphError(f"cannot build the API schema: {exc}") from exc


def _hidden(node: Node, hidden_name: str | None) -> bool:
    directives: Iterable[DirectiveNode] = getattr(node, "directives", None) or ()
    return hidden_name is not None and any(d.name.value == hidden_name for d in directives)


def _strip(
    directives: Iterable[DirectiveNode], features: Sequence[LinkedFeature]
) -> tuple[DirectiveNode, ...]:
    return tuple(d for d in directives if not any(f.owns_directive(d.name.value) for f in features))


def _clean(
    node: ast.Node, features: Sequence[LinkedFeature], hidden_name: str | None, hidden_types: set[str]
) -> ast.Node:
    changes: dict[str, object] = {}
    if getattr(node, "directives", None) is not None:
        changes["directives"] = _strip(node.directives, features)  # type: ignore[attr-defined]
    for child_key in ("fields", "values", "arguments"):
        children = getattr(node, child_key, None)
        if children is None or (child_key == "arguments" and not isinstance(node, ast.FieldDefinitionNode)):
            continue
        changes[child_key] = tuple(
            _clean(child, features, hidden_name, hidden_types)
            for child in children
            if not _hidden(child, hidden_name)
        )
    if isinstance(node, ast.UnionTypeDefinitionNode | ast.UnionTypeExtensionNode):
        changes["types"] = tuple(t for t in node.types or () if t.name.value not in hidden_types)
    if isinstance(node, ObjectTypeDefinitionNode | ast.InterfaceTypeDefinitionNode):
        changes["interfaces"] = tuple(i for i in node.interfaces or () if i.name.value not in hidden_types)
    return dataclasses.replace(node, **changes)  # type: ignore[arg-type]


__all__ = [
    "FieldJoin",
    "SubgraphInfo",
    "Supergraph",
    "TypeJoin",
    "get_named_type",
    "parse_supergraph",
]
