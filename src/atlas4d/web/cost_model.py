"""What each field costs: the IBM GraphQL cost directives (`@cost`, `@listSize`) read from SDL, over defaults.

The directives are those of the IBM GraphQL Cost Directive specification as Apollo Federation (2.9+) and The
Guild's composition carry them into a supergraph: `@cost(weight:)` on fields, arguments, input fields, object
types, scalars and enums; `@listSize(assumedSize:, slicingArguments:, sizedFields:, requireOneSlicingArgument:)`
on fields. They are found under their own names, under `federation__` / `cost__` prefixes, or under the name a
`@link(import: [{name: "@cost", as: "@price"}])` gives them. Apollo writes `weight` as an Int, the IBM text as a
String; both are read.

Without directives the defaults are those of Apollo Router's demand control (object, interface and union
results 1, scalars and enums 0, a mutation 10), plus our naming convention: an argument named `first`,
`last` or `limit` slices the list it is on (on a connection object, the connection's list fields), and a list
with no slicing argument given is assumed to hold the server's default page size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from graphql import (
    ConstDirectiveNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListValueNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ObjectValueNode,
    ScalarTypeDefinitionNode,
    ScalarTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    StringValueNode,
    ValueNode,
    parse,
    value_from_ast_untyped,
)

SLICING_ARGUMENTS = ("first", "last", "limit")
LINK_URLS = ("specs.apollo.dev/federation/", "specs.apollo.dev/cost/", "ibm.github.io/graphql-specs/cost")


@dataclass(frozen=True)
class ListSize:
    assumed_size: int | None = None
    slicing_arguments: tuple[str, ...] = ()
    sized_fields: tuple[str, ...] = ()
    require_one_slicing_argument: bool = True


@dataclass
class CostModel:
    """Weights and list sizes by type and field name; what the SDL does not say falls back to the defaults."""

    type_weights: dict[str, int] = field(default_factory=dict)
    field_weights: dict[tuple[str, str], int] = field(default_factory=dict)
    argument_weights: dict[tuple[str, str, str], int] = field(default_factory=dict)
    input_field_weights: dict[tuple[str, str], int] = field(default_factory=dict)
    list_sizes: dict[tuple[str, str], ListSize] = field(default_factory=dict)

    def update(self, other: CostModel) -> None:
        self.type_weights.update(other.type_weights)
        self.field_weights.update(other.field_weights)
        self.argument_weights.update(other.argument_weights)
        self.input_field_weights.update(other.input_field_weights)
        self.list_sizes.update(other.list_sizes)

    @classmethod
    def from_sdls(cls, sdls: Iterable[str]) -> CostModel:
        """One model for several schemas (e.g. every subgraph of a supergraph), later ones winning."""
        model = cls()
        for sdl in sdls:
            model.update(cost_model_from_sdl(sdl))
        return model


def cost_model_from_sdl(sdl: str) -> CostModel:
    return cost_model_from_document(parse(sdl, no_location=True))


def cost_model_from_document(document: DocumentNode) -> CostModel:
    cost_names, list_size_names = _directive_names(document)
    model = CostModel()

    def weight(directives: Iterable[ConstDirectiveNode | DirectiveNode]) -> int | None:
        for d in directives:
            if d.name.value in cost_names:
                return _int(_argument(d, "weight"))
        return None

    for definition in document.definitions:
        if isinstance(
            definition,
            ObjectTypeDefinitionNode
            | ObjectTypeExtensionNode
            | InterfaceTypeDefinitionNode
            | InterfaceTypeExtensionNode,
        ):
            type_name = definition.name.value
            own = weight(definition.directives or ())
            if own is not None:
                model.type_weights[type_name] = own
            for f in definition.fields or ():
                w = weight(f.directives or ())
                if w is not None:
                    model.field_weights[type_name, f.name.value] = w
                for d in f.directives or ():
                    if d.name.value in list_size_names:
                        model.list_sizes[type_name, f.name.value] = _list_size(d)
                for arg in f.arguments or ():
                    w = weight(arg.directives or ())
                    if w is not None:
                        model.argument_weights[type_name, f.name.value, arg.name.value] = w
        elif isinstance(
            definition,
            ScalarTypeDefinitionNode
            | ScalarTypeExtensionNode
            | EnumTypeDefinitionNode
            | EnumTypeExtensionNode,
        ):
            own = weight(definition.directives or ())
            if own is not None:
                model.type_weights[definition.name.value] = own
        elif isinstance(definition, InputObjectTypeDefinitionNode | InputObjectTypeExtensionNode):
            for input_field in definition.fields or ():
                w = weight(input_field.directives or ())
                if w is not None:
                    model.input_field_weights[definition.name.value, input_field.name.value] = w
    return model


def _directive_names(document: DocumentNode) -> tuple[set[str], set[str]]:
    """The names `@cost` and `@listSize` go by in this document (renamed through @link imports or not)."""
    cost = {"cost", "federation__cost", "cost__cost"}
    list_size = {"listSize", "federation__listSize", "cost__listSize"}
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for link in definition.directives or ():
            url = _argument(link, "url")
            if link.name.value != "link" or not isinstance(url, StringValueNode):
                continue
            if not any(u in url.value for u in LINK_URLS):
                continue
            imports = _argument(link, "import")
            for item in imports.values if isinstance(imports, ListValueNode) else ():
                if isinstance(item, ObjectValueNode):
                    pairs = {f.name.value: f.value for f in item.fields}
                    name, alias = pairs.get("name"), pairs.get("as")
                    if isinstance(name, StringValueNode) and isinstance(alias, StringValueNode):
                        target = (
                            cost
                            if name.value == "@cost"
                            else list_size
                            if name.value == "@listSize"
                            else None
                        )
                        if target is not None:
                            target.add(alias.value.lstrip("@"))
    return cost, list_size


def _argument(directive: ConstDirectiveNode | DirectiveNode, name: str) -> ValueNode | None:
    for arg in directive.arguments or ():
        if arg.name.value == name:
            return arg.value
    return None


def _int(node: ValueNode | None) -> int | None:
    value = value_from_ast_untyped(node) if node is not None else None
    try:
        return int(value) if value is not None else None  # Apollo: Int; the IBM spec: String
    except (TypeError, ValueError):
        return None


def _list_size(directive: ConstDirectiveNode | DirectiveNode) -> ListSize:
    def names(arg: str) -> tuple[str, ...]:
        node = _argument(directive, arg)
        value = value_from_ast_untyped(node) if node is not None else None
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    require = _argument(directive, "requireOneSlicingArgument")
    return ListSize(
        assumed_size=_int(_argument(directive, "assumedSize")),
        slicing_arguments=names("slicingArguments"),
        sized_fields=names("sizedFields"),
        require_one_slicing_argument=value_from_ast_untyped(require) is not False if require else True,
    )
