"""The cost of an operation before it runs: how many objects it can make the server produce.

Hand-written: the Python GraphQL cost libraries we found walk fragments once per spread (exponential on a
fragment bomb) and know nothing of `@listSize` or of connections. This follows the IBM GraphQL Cost Directive
specification as Apollo Router's demand control applies it:

    cost(field) = argument weights + size * (weight + cost of its selections)   for a list (size = its length)
    cost(field) = argument weights + weight + cost of its selections            otherwise

with weights and sizes from `atlas4d.web.cost_model` (directives over defaults). A list's size is the value of
its slicing argument (`first`/`limit`, or those `@listSize(slicingArguments:)` names), else the argument's
default, else `@listSize(assumedSize:)`, else the server's default page size (a list with no slicing argument at
all: 10, `UNSLICED_LIST_SIZE`); a connection passes its size
to its `sizedFields` (`nodes`, `edges`). `_entities` is as long as its `representations`. A leaf field that takes
a slicing argument (the GeoJSON FeatureCollection of `observationsGeoJSON(limit:)`) counts one per item.

Linear time: every selection set is summarised once, fragments in dependency order (no recursion through
spreads); a summary keeps, per response name, what the field would cost if a parent connection sized it, so a
fragment spread under connections of different sizes is still summarised once. Fragments spread several times
count each time (an upper bound: graphql-core merges identical selections).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
    value_from_ast_untyped,
)

from atlas4d.web.cost_model import SLICING_ARGUMENTS, CostModel, ListSize
from atlas4d.web.shape import CAP, dependency_order

MUTATION_COST = 10  # Apollo Router's default base cost of a mutation
# A list nothing slices or sizes (`Observation.anomalies`, a module's `violations`): Apollo Router's documented
# example `list_size`. Give such fields `@listSize(assumedSize:)` when they can be long.
UNSLICED_LIST_SIZE = 10
INPUT_WEIGHT_DEPTH = 8  # input objects deeper than this are not searched for @cost input fields


@dataclass
class _Summary:
    """A selection set's cost, and per response name what its fields would cost if a parent sized them."""

    normal: int = 0
    # name -> (normal cost, cost per item if sized, argument weights) of the fields with that response name
    by_name: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def add(self, name: str, normal: int, unit: int, args: int) -> None:
        self.normal = min(CAP, self.normal + normal)
        n, u, a = self.by_name.get(name, (0, 0, 0))
        self.by_name[name] = (min(CAP, n + normal), min(CAP, u + unit), min(CAP, a + args))

    def merge(self, other: _Summary) -> None:
        for name, (n, u, a) in other.by_name.items():
            self.add(name, n, u, a)

    def sized(self, names: tuple[str, ...], size: int) -> int:
        """The cost when a parent of size `size` sizes the fields named `names`."""
        total = self.normal
        for name in names:
            n, u, a = self.by_name.get(name, (0, 0, 0))
            total += a + size * u - n
        return min(CAP, max(0, total))


@dataclass(frozen=True)
class _FieldInfo:
    definition: GraphQLField
    named: GraphQLNamedType
    weight: int
    list_size: ListSize
    is_list: bool


class CostAnalyzer:
    """Costs operations of one schema; `max_list_size` clamps sizes when larger ones are refused anyway (our
    resolvers answer PAGE_TOO_LARGE past the page limit, before any SQL)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        model: CostModel | None = None,
        *,
        default_list_size: int = 100,
        max_list_size: int | None = None,
    ) -> None:
        self.schema = schema
        self.model = model or CostModel()
        self.default_list_size = default_list_size
        self.max_list_size = max_list_size
        self.weighs_inputs = bool(self.model.argument_weights or self.model.input_field_weights)
        self._fields: dict[tuple[str, str], _FieldInfo | None] = {}

    def field_info(self, parent: GraphQLNamedType, name: str) -> _FieldInfo | None:
        key = (parent.name, name)
        try:
            return self._fields[key]
        except KeyError:
            pass
        info = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) and name in parent.fields:
            definition = parent.fields[name]
            named = get_named_type(definition.type)
            weight = self.model.field_weights.get(
                key, self.model.type_weights.get(named.name, 1 if is_composite_type(named) else 0)
            )
            list_size = self.model.list_sizes.get(key) or _conventional_list_size(definition)
            info = _FieldInfo(definition, named, weight, list_size, _is_list(definition))
        self._fields[key] = info
        return info

    def cost(
        self, document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> int:
        operation = _operation(document, operation_name)
        if operation is None:
            return 0  # execution reports the missing operation
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[operation.operation]
        if root is None:
            return 0
        run = _Run(self, document, dict(variables or {}), operation)
        base = MUTATION_COST if operation.operation is OperationType.MUTATION else 0
        return min(CAP, base + run.summary(operation.selection_set, root).normal)


class _Run:
    def __init__(
        self,
        analyzer: CostAnalyzer,
        document: DocumentNode,
        variables: dict[str, Any],
        operation: OperationDefinitionNode,
    ) -> None:
        self.a = analyzer
        self.variables = variables
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in variables and definition.default_value is not None:
                variables[name] = value_from_ast_untyped(definition.default_value)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.fragments: dict[str, _Summary] = {}
        for name in dependency_order(fragments):
            fragment = fragments[name]
            condition = analyzer.schema.get_type(fragment.type_condition.name.value)
            if condition is not None:
                self.fragments[name] = self.summary(fragment.selection_set, condition)

    def summary(self, node: SelectionSetNode | None, parent: GraphQLNamedType) -> _Summary:
        out = _Summary()
        if node is None:
            return out
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, parent, out)
            elif isinstance(selection, InlineFragmentNode):
                condition = (
                    self.a.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition is not None
                    else parent
                )
                if condition is not None:
                    out.merge(self.summary(selection.selection_set, condition))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    out.merge(fragment)
        return out

    def _field(self, node: FieldNode, parent: GraphQLNamedType, out: _Summary) -> None:
        info = self.a.field_info(parent, node.name.value)
        if info is None:
            return  # __typename, or a field validation refuses
        args = self._argument_weights(parent.name, info.definition, node) if self.a.weighs_inputs else 0
        size = self._size(node, info)
        inner = self.summary(node.selection_set, info.named) if node.selection_set is not None else _Summary()
        if info.list_size.sized_fields and not info.is_list:
            children = inner.sized(info.list_size.sized_fields, size)
        else:
            children = inner.normal
        unit = min(CAP, info.weight + children)
        if info.is_list:
            normal = args + size * unit
        elif node.selection_set is None and self._sliced(node, info.list_size):
            normal = args + size * max(info.weight, 1)
        else:
            normal = args + unit
        out.add((node.alias or node.name).value, min(CAP, normal), unit, args)

    def _sliced(self, node: FieldNode, list_size: ListSize) -> bool:
        return any(arg.name.value in list_size.slicing_arguments for arg in node.arguments or ())

    def _size(self, node: FieldNode, info: _FieldInfo) -> int:
        definition, list_size = info.definition, info.list_size
        given = {arg.name.value: arg for arg in node.arguments or ()}
        if node.name.value == "_entities" and "representations" in given:
            value = self._value(given["representations"].value)
            return len(value) if isinstance(value, list) else 1
        sizes = []
        for name in list_size.slicing_arguments:
            if name in given:
                value = self._value(given[name].value)
            elif name in definition.args:
                value = definition.args[name].default_value
            else:
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                sizes.append(max(0, value))
        if sizes:
            size = max(sizes)
        elif list_size.assumed_size is not None:
            size = list_size.assumed_size
        elif list_size.slicing_arguments:
            size = self.a.default_list_size  # what the server returns when `first` is not given
        else:
            size = UNSLICED_LIST_SIZE
        if self.a.max_list_size is not None:
            size = min(size, self.a.max_list_size)
        return min(size, CAP)

    def _value(self, node: Any) -> Any:
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, ListValueNode):
            return node.values  # only its length is used
        return value_from_ast_untyped(node, self.variables)

    def _argument_weights(self, type_name: str, definition: GraphQLField, node: FieldNode) -> int:
        model = self.a.model
        field_name = node.name.value
        total = 0
        for arg in node.arguments or ():
            total += model.argument_weights.get((type_name, field_name, arg.name.value), 0)
            arg_def = definition.args.get(arg.name.value)
            if arg_def is not None and model.input_field_weights:
                total += self._input_weights(arg_def.type, self._input_value(arg.value), INPUT_WEIGHT_DEPTH)
        return total

    def _input_value(self, node: Any) -> Any:
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        if isinstance(node, ObjectValueNode | ListValueNode):
            return value_from_ast_untyped(node, self.variables)
        return None

    def _input_weights(self, type_: GraphQLInputType, value: Any, depth: int) -> int:
        if depth == 0 or value is None:
            return 0
        while isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            items = value if isinstance(value, list) else [value]
            return sum(self._input_weights(type_.of_type, item, depth - 1) for item in items[:1000])
        if not isinstance(type_, GraphQLInputObjectType) or not isinstance(value, dict):
            return 0
        total = 0
        for key, item in value.items():
            total += self.a.model.input_field_weights.get((type_.name, key), 0)
            input_field = type_.fields.get(key)
            if input_field is not None:
                total += self._input_weights(input_field.type, item, depth - 1)
        return total


def _is_list(definition: GraphQLField) -> bool:
    t = definition.type
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    return isinstance(t, GraphQLList)


def _conventional_list_size(definition: GraphQLField) -> ListSize:
    """No @listSize: `first`/`last`/`limit` slice; on a connection object they size its list fields."""
    slicing = tuple(a for a in SLICING_ARGUMENTS if a in definition.args)
    sized: tuple[str, ...] = ()
    named = get_named_type(definition.type)
    if slicing and not _is_list(definition) and isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        sized = tuple(n for n, f in named.fields.items() if _is_list(f))
    return ListSize(slicing_arguments=slicing, sized_fields=sized, require_one_slicing_argument=False)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)
