"""Read one subgraph SDL into what composition needs: types, fields and their federation directives.

Federation directives are recognised under the names the subgraph's `@link` gives them (`import: ["@key"]`, renames
with `{name: "@key", as: "@primaryKey"}`, or the `@federation__key` form when not imported). A subgraph without a
`@link` to the federation spec is a Federation 1 subgraph, read the way Apollo composition upgrades one: directives
under their plain names, every field shareable, `@external` fields that no `@key`/`@requires`/`@provides` uses
dropped, type extensions not marked as such.

Directives carried into the supergraph are kept on each element under their supergraph names, in source order:
`@tag`, `@cost`, `@listSize`, `@authenticated`, `@requiresScopes`, `@policy`, `@context` (its name prefixed with
the subgraph's, as Apollo does), `@deprecated`,
`@specifiedBy`, and the subgraph's own directives named by `@composeDirective`. An argument with `@fromContext`
is not part of the supergraph field: it becomes a `ContextArgument` of the subgraph's `@join__field`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphql import parse, print_ast
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
# federation directives the supergraph keeps
CARRIED_FEDERATION = frozenset({"tag", "cost", "listSize", "authenticated", "requiresScopes", "policy"})
FEDERATION_SPEC = "https://specs.apollo.dev/federation/"
FEDERATION_1_DIRECTIVES = ("key", "external", "requires", "provides", "extends", "inaccessible", "tag")
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
CONTEXT_FIELD = re.compile(r"\s*\$([_A-Za-z][_0-9A-Za-z]*)(.*)\Z", re.S)


@dataclass(frozen=True)
class ContextArgument:
    """An argument filled from a context (`@fromContext(field: "$ctx { id }")`): join__ContextArgument."""

    context: str  # SUBGRAPH__NAME
    name: str
    type: str
    selection: str


@dataclass(frozen=True)
class ComposedDirective:
    """A subgraph's own directive that `@composeDirective` carries into the supergraph."""

    name: str
    url: str  # of the @link that imports it
    definition: ast.DirectiveDefinitionNode


@dataclass
class SubField:
    name: str
    type: ast.TypeNode
    arguments: tuple[ast.InputValueDefinitionNode, ...] = ()
    description: str | None = None
    directives: tuple[ast.DirectiveNode, ...] = ()  # carried into the supergraph, in source order
    argument_directives: dict[str, tuple[ast.DirectiveNode, ...]] = field(default_factory=dict)
    context_arguments: tuple[ContextArgument, ...] = ()
    external: bool = False
    shareable: bool = False
    inaccessible: bool = False
    requires: str | None = None
    provides: str | None = None
    override: str | None = None
    override_label: str | None = None
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
    version: tuple[int, int] | None = (2, 0)  # of the federation spec it links; None: Federation 1
    composed: dict[str, ComposedDirective] = field(default_factory=dict)

    def key_fields(self, type_name: str) -> set[str]:
        names: set[str] = set()
        for key, _ in self.types[type_name].keys if type_name in self.types else ():
            names.update(re.findall(r"[_A-Za-z][_0-9A-Za-z]*", key.split("{")[0]))
        return names


@dataclass
class _Links:
    names: dict[str, str] = field(default_factory=dict)  # local directive name -> federation directive name
    version: tuple[int, int] | None = None
    imports: dict[str, str] = field(default_factory=dict)  # other specs: local directive name -> link URL


def _link_args(directive: ast.DirectiveNode) -> dict[str, ast.ValueNode]:
    return {a.name.value: a.value for a in directive.arguments or ()}


def _read_links(document: ast.DocumentNode) -> _Links:
    """What the subgraph's `@link`s say: federation directive names and version, other specs' imports."""
    links = _Links()
    for definition in document.definitions:
        if not isinstance(definition, ast.SchemaDefinitionNode | ast.SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value != "link":
                continue
            args = _link_args(directive)
            url = args.get("url")
            if not isinstance(url, ast.StringValueNode):
                continue
            federation = url.value.startswith(FEDERATION_SPEC)
            if federation:
                found = re.search(r"/v(\d+)\.(\d+)", url.value)
                links.version = (int(found[1]), int(found[2])) if found else (2, 0)
            imports = args.get("import")
            for item in imports.values if isinstance(imports, ast.ListValueNode) else ():
                original = local = None
                if isinstance(item, ast.StringValueNode):
                    original = local = item.value
                elif isinstance(item, ast.ObjectValueNode):
                    parts = {f.name.value: f.value for f in item.fields or ()}
                    name, alias = parts.get("name"), parts.get("as")
                    if isinstance(name, ast.StringValueNode):
                        original = name.value
                        local = alias.value if isinstance(alias, ast.StringValueNode) else name.value
                if original is None or local is None or not original.startswith("@"):
                    continue
                if federation:
                    links.names[local.lstrip("@")] = original.lstrip("@")
                else:
                    links.imports[local.lstrip("@")] = url.value
    if links.version is None:  # a Federation 1 subgraph: directives under their plain names
        links.names.update((name, name) for name in FEDERATION_1_DIRECTIVES)
    return links


class _Reader:
    def __init__(self, name: str, url: str, sdl: str) -> None:
        try:
            self.document = parse(sdl, no_location=True)
        except Exception as exc:
            raise CompositionError(
                [CompositionIssue("INVALID_GRAPHQL", f"[{name}] subgraph SDL does not parse: {exc}")]
            ) from exc
        links = _read_links(self.document)
        self.names = links.names
        self.model = SubgraphModel(name, url, version=links.version)
        self.fed1 = links.version is None
        self._composed(links)

    def fed(self, directive: ast.DirectiveNode) -> str | None:
        local = directive.name.value
        if local in self.names:
            return self.names[local]
        if local.startswith("federation__"):
            return local[len("federation__") :]
        return None

    def args(self, directive: ast.DirectiveNode) -> dict[str, ast.ValueNode]:
        return {a.name.value: a.value for a in directive.arguments or ()}

    def _composed(self, links: _Links) -> None:
        """The directives named by `@composeDirective(name: "@x")` on the schema, with their definitions."""
        definitions = {
            d.name.value: d for d in self.document.definitions if isinstance(d, ast.DirectiveDefinitionNode)
        }
        for definition in self.document.definitions:
            if not isinstance(definition, ast.SchemaDefinitionNode | ast.SchemaExtensionNode):
                continue
            for directive in definition.directives or ():
                value = self.args(directive).get("name")
                if self.fed(directive) != "composeDirective" or not isinstance(value, ast.StringValueNode):
                    continue
                name = value.value.lstrip("@")
                url = links.imports.get(name)
                if url is None or name not in definitions:
                    raise CompositionError(
                        [
                            CompositionIssue(
                                "DIRECTIVE_COMPOSITION_ERROR",
                                f'[{self.model.name}] Could not find matching @link for directive "@{name}"'
                                if url is None
                                else f'[{self.model.name}] Directive "@{name}" is composed but not defined',
                            )
                        ]
                    )
                self.model.composed[name] = ComposedDirective(name, url, definitions[name])

    def carried(self, directive: ast.DirectiveNode, fed: str | None) -> ast.DirectiveNode | None:
        """The directive as the supergraph carries it (under its supergraph name), or None."""
        if fed in CARRIED_FEDERATION or fed == "inaccessible":
            return ast.DirectiveNode(name=ast.NameNode(value=fed), arguments=directive.arguments)
        if fed == "context":
            value = self.args(directive).get("name")
            name = value.value if isinstance(value, ast.StringValueNode) else ""
            argument = ast.ArgumentNode(
                name=ast.NameNode(value="name"),
                value=ast.StringValueNode(value=f"{self.model.name}__{name}"),
            )
            return ast.DirectiveNode(name=ast.NameNode(value="context"), arguments=(argument,))
        name = directive.name.value
        if fed is None and (name in KEPT_DIRECTIVES or name in self.model.composed):
            return directive
        return None

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
        if self.fed1:
            self._upgrade_federation_1()
        return self.model

    def _upgrade_federation_1(self) -> None:
        """What Apollo's schema upgrader does to a Federation 1 subgraph, as far as composition sees it."""
        used: set[str] = set()
        for sub in self.model.types.values():
            for key, _ in sub.keys:
                used.update(NAME.findall(key))
            for sub_field in sub.fields.values():
                for field_set in (sub_field.requires, sub_field.provides):
                    used.update(NAME.findall(field_set or ""))
        for sub in self.model.types.values():
            sub.extension = False
            sub.shareable = sub.kind == "object"
            for name, sub_field in list(sub.fields.items()):
                if sub_field.external and name not in used:
                    del sub.fields[name]
                else:
                    sub_field.shareable = sub.kind == "object"

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
            else:
                carried = self.carried(directive, fed)
                if carried is not None:
                    kept.append(carried)
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
                self._arguments(made, field_node.arguments or ())
            elif isinstance(field_node, ast.InputValueDefinitionNode):
                made.default = field_node.default_value
            made.external = made.external or sub.external
            made.shareable = made.shareable or sub.shareable
            sub.fields[made.name] = made

    def _arguments(self, made: SubField, arguments: tuple[ast.InputValueDefinitionNode, ...]) -> None:
        """Field arguments, their carried directives; `@fromContext` ones become context arguments."""
        kept: list[ast.InputValueDefinitionNode] = []
        contexts: list[ContextArgument] = []
        for argument in arguments:
            carried: list[ast.DirectiveNode] = []
            from_context = None
            for directive in argument.directives or ():
                fed = self.fed(directive)
                value = self.args(directive).get("field")
                if fed == "fromContext" and isinstance(value, ast.StringValueNode):
                    from_context = CONTEXT_FIELD.match(value.value)
                else:
                    found = self.carried(directive, fed)
                    if found is not None:
                        carried.append(found)
            if from_context is not None:
                contexts.append(
                    ContextArgument(
                        f"{self.model.name}__{from_context[1]}",
                        argument.name.value,
                        print_ast(argument.type),
                        from_context[2],
                    )
                )
                continue
            kept.append(argument)
            if carried:
                made.argument_directives[argument.name.value] = tuple(carried)
        made.arguments = tuple(kept)
        made.context_arguments = tuple(contexts)

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
                label = args.get("label")
                made.override_label = label.value if isinstance(label, ast.StringValueNode) else None
            else:
                carried = self.carried(directive, fed)
                if carried is not None:
                    kept.append(carried)
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
