"""Read one Federation 2 subgraph SDL into what composition needs: types, fields and their federation directives.

Federation directives are recognised under the names the subgraph's `@link` gives them (`import: ["@key"]`, renames
with `{name: "@key", as: "@primaryKey"}`, or the `@federation__key` form when not imported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphql import parse
from graphql.language import ast

from atlas4d.federation.errors import CompositionError, CompositionIssue

BUILT_IN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
FEDERATION_TYPES = frozenset(
    {
        "_Service",
        "_Any",
        "_Entity",
        "FieldSet",
        "_FieldSet",
        "federation__FieldSet",
        "federation__Scope",
        "federation__Policy",
        "federation__ContextFieldValue",
    }
)
FEDERATION_ROOT_FIELDS = frozenset({"_entities", "_service"})
KEPT_DIRECTIVES = frozenset({"deprecated", "specifiedBy"})
FEDERATION_SPEC = "https://specs.apollo.dev/federation/"


@dataclass
class SubField:
    name: str
    type: ast.TypeNode
    arguments: tuple[ast.InputValueDefinitionNode, ...] = ()
    description: str | None = None
    directives: tuple[ast.DirectiveNode, ...] = ()  # kept ones (@deprecated)
    external: bool = False
    shareable: bool = False
    inaccessible: bool = False
    requires: str | None = None
    provides: str | None = None
    override: str | None = None
    default: ast.ValueNode | None = None  # input fields


@dataclass
class SubType:
    name: str
    kind: str  # object | interface | union | enum | input | scalar
    description: str | None = None
    fields: dict[str, SubField] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    values: dict[str, SubField] = field(default_factory=dict)  # enum values (type unused)
    keys: list[tuple[str, bool]] = field(default_factory=list)
    shareable: bool = False
    external: bool = False
    inaccessible: bool = False
    interface_object: bool = False
    extension: bool = False
    directives: tuple[ast.DirectiveNode, ...] = ()


@dataclass
class SubgraphModel:
    name: str
    url: str
    types: dict[str, SubType] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)  # operation -> type name in this subgraph

    def key_fields(self, type_name: str) -> set[str]:
        names: set[str] = set()
        for key, _ in self.types[type_name].keys if type_name in self.types else ():
            names.update(re.findall(r"[_A-Za-z][_0-9A-Za-z]*", key.split("{")[0]))
        return names


def _directive_names(document: ast.DocumentNode) -> dict[str, str]:
    """Local directive name -> federation directive name, per the subgraph's @link to the federation spec."""
    names: dict[str, str] = {}
    linked = False
    for definition in document.definitions:
        if not isinstance(definition, ast.SchemaDefinitionNode | ast.SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value != "link":
                continue
            args = {a.name.value: a.value for a in directive.arguments or ()}
            url = args.get("url")
            if not isinstance(url, ast.StringValueNode) or not url.value.startswith(FEDERATION_SPEC):
                continue
            linked = True
            imports = args.get("import")
            for item in imports.values if isinstance(imports, ast.ListValueNode) else ():
                if isinstance(item, ast.StringValueNode):
                    names[item.value.lstrip("@")] = item.value.lstrip("@")
                elif isinstance(item, ast.ObjectValueNode):
                    parts = {f.name.value: f.value for f in item.fields or ()}
                    original, alias = parts.get("name"), parts.get("as")
                    if isinstance(original, ast.StringValueNode):
                        local = alias.value if isinstance(alias, ast.StringValueNode) else original.value
                        names[local.lstrip("@")] = original.value.lstrip("@")
    if not linked:  # a Federation 1 subgraph: directives under their plain names
        for name in (
            "key",
            "external",
            "requires",
            "provides",
            "shareable",
            "extends",
            "inaccessible",
            "tag",
        ):
            names[name] = name
    return names


class _Reader:
    def __init__(self, name: str, url: str, sdl: str) -> None:
        try:
            self.document = parse(sdl, no_location=True)
        except Exception as exc:
            raise CompositionError(
                [CompositionIssue("INVALID_GRAPHQL", f"[{name}] subgraph SDL does not parse: {exc}")]
            ) from exc
        self.names = _directive_names(self.document)
        self.model = SubgraphModel(name, url)

    def fed(self, directive: ast.DirectiveNode) -> str | None:
        local = directive.name.value
        if local in self.names:
            return self.names[local]
        if local.startswith("federation__"):
            return local[len("federation__") :]
        return None

    def args(self, directive: ast.DirectiveNode) -> dict[str, ast.ValueNode]:
        return {a.name.value: a.value for a in directive.arguments or ()}

    def read(self) -> SubgraphModel:
        for definition in self.document.definitions:
            if isinstance(definition, ast.SchemaDefinitionNode | ast.SchemaExtensionNode):
                for op in definition.operation_types or ():
                    self.model.roots[op.operation.value] = op.type.name.value
        for kind in ("query", "mutation", "subscription"):
            self.model.roots.setdefault(kind, kind.capitalize())
        for definition in self.document.definitions:
            if isinstance(definition, ast.TypeDefinitionNode | ast.TypeExtensionNode):
                self._type(definition)
        for sub in self.model.types.values():
            if sub.extension:  # an entity extension's @external key fields are its own (Federation 1 style)
                for name in self.model.key_fields(sub.name):
                    if name in sub.fields:
                        sub.fields[name].external = False
        return self.model

    def _type(self, node: ast.TypeDefinitionNode | ast.TypeExtensionNode) -> None:
        name = node.name.value
        if name in FEDERATION_TYPES or name.startswith(("link__", "federation__")):
            return
        kind = _kind(node)
        if kind == "scalar" and name in BUILT_IN_SCALARS:
            return
        sub = self.model.types.get(name)
        if sub is None:
            sub = SubType(name, kind, extension=isinstance(node, ast.TypeExtensionNode))
            self.model.types[name] = sub
        elif not isinstance(node, ast.TypeExtensionNode):
            sub.extension = False
        description = getattr(node, "description", None)
        if description is not None:
            sub.description = description.value
        kept: list[ast.DirectiveNode] = list(sub.directives)
        for directive in node.directives or ():
            fed = self.fed(directive)
            args = self.args(directive)
            if fed == "key":
                fields = args.get("fields")
                resolvable = args.get("resolvable")
                sub.keys.append(
                    (
                        fields.value if isinstance(fields, ast.StringValueNode) else "",
                        not isinstance(resolvable, ast.BooleanValueNode) or resolvable.value,
                    )
                )
            elif fed == "shareable":
                sub.shareable = True
            elif fed == "external":
                sub.external = True
            elif fed == "inaccessible":
                sub.inaccessible = True
            elif fed == "interfaceObject":
                sub.interface_object = True
            elif fed == "extends":
                sub.extension = True
            elif fed is None and directive.name.value in KEPT_DIRECTIVES:
                kept.append(directive)
        sub.directives = tuple(kept)
        sub.interfaces += [i.name.value for i in getattr(node, "interfaces", None) or ()]
        sub.members += [t.name.value for t in getattr(node, "types", None) or ()]
        for value in getattr(node, "values", None) or ():
            sub.values[value.name.value] = self._field(
                value, ast.NamedTypeNode(name=ast.NameNode(value=name))
            )
        for field_node in getattr(node, "fields", None) or ():
            if (
                kind == "object"
                and name == self.model.roots["query"]
                and field_node.name.value in (FEDERATION_ROOT_FIELDS)
            ):
                continue
            made = self._field(field_node, field_node.type)
            if isinstance(field_node, ast.FieldDefinitionNode):
                made.arguments = tuple(field_node.arguments or ())
            elif isinstance(field_node, ast.InputValueDefinitionNode):
                made.default = field_node.default_value
            made.external = made.external or sub.external
            made.shareable = made.shareable or sub.shareable
            sub.fields[made.name] = made

    def _field(self, node: ast.Node, type_node: ast.TypeNode) -> SubField:
        made = SubField(node.name.value, type_node)  # type: ignore[attr-defined]
        description = getattr(node, "description", None)
        made.description = description.value if description is not None else None
        kept = []
        for directive in getattr(node, "directives", None) or ():
            fed = self.fed(directive)
            args = self.args(directive)
            value = args.get("fields") or args.get("from")
            text = value.value if isinstance(value, ast.StringValueNode) else None
            if fed == "external":
                made.external = True
            elif fed == "shareable":
                made.shareable = True
            elif fed == "inaccessible":
                made.inaccessible = True
            elif fed == "requires":
                made.requires = text
            elif fed == "provides":
                made.provides = text
            elif fed == "override":
                made.override = text
            elif fed is None and directive.name.value in KEPT_DIRECTIVES:
                kept.append(directive)
        made.directives = tuple(kept)
        return made


def _kind(node: ast.Node) -> str:
    label = type(node).__name__
    for prefix, kind in (
        ("ObjectType", "object"),
        ("InterfaceType", "interface"),
        ("UnionType", "union"),
        ("EnumType", "enum"),
        ("InputObjectType", "input"),
        ("ScalarType", "scalar"),
    ):
        if label.startswith(prefix):
            return kind
    return "unknown"


def read_subgraph(name: str, url: str, sdl: str) -> SubgraphModel:
    return _Reader(name, url, sdl).read()
