"""Turn the chosen options into fetches: the fetch dependency graph of one operation.

`PlanBuilder` walks the operation with the `Chooser`'s decisions. A local field is added to the current fetch;
a jump adds the key (and `@requires`) fields to the current fetch — or to the fetches the decision found for
them — and the field to an `_entities` fetch at the same response path, which depends on every fetch that wrote
what its representations read. Fields the planner adds are aliased where the client (or another planner field
at the same path) already uses their response key for something else; representations read the alias and send
the field's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import print_ast
from graphql.language import ast

from atlas4d.federation.errors import PlanningError
from atlas4d.federation.planner.decide import (
    ROOT,
    Chooser,
    Conditions,
    Guard,
    Part,
    Plan,
    Position,
)
from atlas4d.federation.planner.fetch_graph import FetchGraph, Group, add_representation
from atlas4d.federation.planner.graph import QueryGraph
from atlas4d.federation.planner.nodes import ContextInput
from atlas4d.federation.planner.operation import INTROSPECTION_ROOTS, Operation
from atlas4d.federation.planner.selection import Field, Fragment, Selection, add_selection, copy_selection

INTERNAL_ALIAS = "__fed_"
CONTEXT_VARIABLE = "__fed_ctx_"
Directives = tuple[tuple[ast.DirectiveNode, ...], ...]  # @skip/@include around a place, outermost first


@dataclass(frozen=True, eq=False)
class Level:
    """An object level being emitted: where a `@fromContext` argument below can read its context."""

    type: str
    path: tuple[str, ...]
    group: Group | None
    out: list[Selection]
    position: Position


Lineage = tuple[Level, ...]


class PlanBuilder:
    def __init__(self, graph: QueryGraph, operation: Operation) -> None:
        self.g = graph
        self.sg = graph.sg
        self.operation = operation
        self.chooser = Chooser(graph)
        self.fetches = FetchGraph()
        self.sequential = operation.kind == "mutation"
        # response keys used at each response path: key -> `name(args)` of the field there
        self._taken: dict[tuple[str, ...], dict[str, str]] = {}
        self._contexts = 0

    @property
    def root_type(self) -> str:
        return self._root_type(self.operation.kind)

    def build(self) -> FetchGraph:
        root_type = self._root_type(self.operation.kind)
        position = Position(root_type, ROOT)
        items = _without_gateway_fields(self.chooser.object_items(root_type, self.operation.selections))
        batches = [[item] for item in items] if self.sequential else [items]
        for batch in batches:
            if not batch:
                continue
            plan = self.chooser.plan(position, batch)
            if plan is None:
                raise PlanningError(
                    "The operation cannot be planned: "
                    + (self.chooser.failure or "no subgraph resolves a selected field")
                    + "."
                )
            self.emit(None, plan, (), [], (), frozenset(), client=True)
        return self.fetches

    def _root_type(self, kind: str) -> str:
        schema = self.sg.api_schema
        root = {
            "query": schema.query_type,
            "mutation": schema.mutation_type,
            "subscription": schema.subscription_type,
        }.get(kind)
        if root is None:
            raise PlanningError(f"The schema has no {kind} type.")
        return root.name

    # --- emission -----------------------------------------------------------------------------------------------
    def emit(
        self,
        group: Group | None,
        plan: Plan,
        path: tuple[str, ...],
        out: list[Selection],
        conditions: Directives,
        guard: Guard,
        *,
        client: bool,
        ancestors: Lineage = (),
    ) -> set[int]:
        """Add a level's plan to the fetches; returns the groups that received any of it."""
        touched: set[int] = {group.id} if group is not None else set()
        position = plan.position
        if plan.abstract:
            add_selection(out, Field("__typename"))
            for object_type, sub in plan.by_type.items():
                if not sub.fields and sub.owner is None:
                    continue
                fragment = add_selection(out, Fragment(object_type))
                touched |= self.emit(
                    group,
                    sub,
                    path,
                    fragment.selections,
                    conditions,
                    guard,
                    client=client,
                    ancestors=ancestors,
                )
            return touched
        lineage = (*ancestors, Level(position.type, path, group, out, position))
        if client:
            taken = self._taken.setdefault(path, {})
            for choice in plan.fields:
                taken.setdefault(choice.field.response_key, choice.field.signature_without_alias())
        for choice in plan.fields:
            level = tuple(w.directives for w in choice.conditions)
            here = (*conditions, *level)
            for part in choice.parts:
                touched |= self._emit_part(
                    group, position, choice.field, part, path, out, (here, level), guard, client, lineage
                )
        if plan.owner is not None:
            assert group is not None
            touched |= self._emit_owner(group, plan, path, out, conditions, guard, lineage)
        return touched

    def _emit_part(
        self,
        group: Group | None,
        position: Position,
        item: Field,
        part: Part,
        path: tuple[str, ...],
        out: list[Selection],
        where: tuple[Directives, Directives],
        guard: Guard,
        client: bool,
        lineage: Lineage,
    ) -> set[int]:
        """`where`: every @skip/@include from the root to here (a new fetch repeats them), and those of this
        level only (the current fetch already has the outer ones)."""
        conditions, level = where
        option = part.option
        if option.kind == "root":
            root = self.fetches.root_group(option.graph, sequential=self.sequential)
            into = _nest(root.selections, level)
            return self._emit_field(
                root, option.type, item, part, path, into, conditions, guard, client, lineage
            )
        assert group is not None
        if option.kind == "local":
            into = _nest(out, level)
            return self._emit_field(
                group, position.type, item, part, path, into, conditions, guard, client, lineage
            )
        inner = guard | {(option.type, option.graph)}
        touched: set[int] = {group.id}
        assert option.key is not None and part.key_plan is not None
        keys, key_touched = self._emit_condition(
            group, position, option.key, part.key_plan, path, out, conditions, inner
        )
        touched |= key_touched
        required: list[Selection] = []
        if option.requires:
            assert part.requires_plan is not None
            required, requires_touched = self._emit_condition(
                group, position, option.requires, part.requires_plan, path, out, conditions, guard
            )
            touched |= requires_touched
        inputs, item, context_touched = self._emit_contexts(
            position, option.graph, option.type, item, lineage
        )
        touched |= context_touched
        add_selection(out, Field("__typename"))
        discriminator = "".join(
            f"|{i.variable}" for i in inputs
        )  # a field with context inputs: its own fetch
        target = self.fetches.entity_group(
            option.graph,
            path,
            touched,
            _conditions_key(conditions) + discriminator,
            position.type,
            [*keys, *required],
        )
        target.context_inputs.extend(inputs)
        add_representation(target, position.type, option.type, keys, [*keys, *required])
        into = _nest(add_selection(target.selections, Fragment(option.type)).selections, conditions)
        touched |= self._emit_field(
            target, option.type, item, part, path, into, conditions, guard, client, lineage
        )
        return touched | {target.id}

    def _emit_contexts(
        self, position: Position, graph: str, type_name: str, item: Field, lineage: Lineage
    ) -> tuple[list[ContextInput], Field, set[int]]:
        """`@fromContext` arguments of a field: each ancestor that sets the context fetches the selection, and
        the field gets the argument as a variable the executor fills per object."""
        arguments = self.g.context_arguments(type_name, item.name, graph)
        if not arguments:
            return [], item, set()
        inputs: list[ContextInput] = []
        touched: set[int] = set()
        extra: list[ast.ArgumentNode] = []
        for argument in arguments:
            level = next(
                (
                    a
                    for a in reversed(lineage)
                    if a.group is not None and self.g.sets_context(a.type, argument.context)
                ),
                None,
            )
            if level is None or level.group is None:
                raise PlanningError(
                    f'"{position.type}.{item.name}" takes argument "{argument.name}" from a context no '
                    "enclosing object sets."
                )
            items = self._unclashed(level.path, self.g.field_set(_context_selection(argument.selection)))
            at = Position(level.position.type, level.position.graph, level.position.provided, True)
            plan = self.chooser.plan(at, items)
            if plan is None:
                raise PlanningError(
                    f'The context of "{position.type}.{item.name}" cannot be read from "{level.type}": '
                    + (self.chooser.failure or "its selection is not resolvable there")
                )
            touched |= self.emit(level.group, plan, level.path, level.out, (), frozenset(), client=False)
            variable = f"{CONTEXT_VARIABLE}{self._contexts}"
            self._contexts += 1
            inputs.append(ContextInput(variable, argument.type, len(level.path), items))
            extra.append(
                ast.ArgumentNode(
                    name=ast.NameNode(value=argument.name),
                    value=ast.VariableNode(name=ast.NameNode(value=variable)),
                )
            )
        with_arguments = Field(
            item.name, item.alias, (*item.arguments, *extra), item.directives, item.selections, item.leaf
        )
        return inputs, with_arguments, touched

    def _emit_condition(
        self,
        group: Group,
        position: Position,
        field_set: str,
        plan: Plan,
        path: tuple[str, ...],
        out: list[Selection],
        conditions: Directives,
        guard: Guard,
    ) -> tuple[list[Selection], set[int]]:
        """Fetch a key's or a @requires' fields for a jump; returns them as representations read them. Fields
        in the current fetch are fetched unconditionally; fetches the key needs carry the conditions."""
        items = self.g.field_set(field_set)
        unclashed = self._unclashed(path, items)
        if unclashed is not items:
            position = Position(position.type, position.graph, position.provided, True)
            found = self.chooser.plan(position, unclashed, guard)
            assert found is not None  # the same fields as `plan`, aliased
            plan = found
        return unclashed, self.emit(group, plan, path, out, conditions, guard, client=False)

    def _emit_field(
        self,
        group: Group,
        parent_type: str,
        item: Field,
        part: Part,
        path: tuple[str, ...],
        into: list[Selection],
        conditions: Directives,
        guard: Guard,
        client: bool,
        lineage: Lineage,
    ) -> set[int]:
        kept = add_selection(into, item.shallow())
        self._taken.setdefault(path, {}).setdefault(item.response_key, item.signature_without_alias())
        if part.child is None:
            return {group.id}
        assert isinstance(kept, Field)
        depth = self.sg.field_list_depths.get((parent_type, item.name), 0)
        child_path = (*path, item.response_key, *(["@"] * depth))
        field_type = (
            self.g.field_type(parent_type, item.name) if self.g.has_field(parent_type, item.name) else ""
        )
        if self.g.is_abstract(field_type):
            add_selection(kept.selections, Field("__typename"))  # the shaper needs the runtime type
        field_conditions = tuple(d for d in item.directives if d.name.value in ("skip", "include"))
        below = (*conditions, field_conditions) if field_conditions else conditions
        found = self.emit(
            group, part.child, child_path, kept.selections, below, guard, client=client, ancestors=lineage
        )
        return found | {group.id}

    def _emit_owner(
        self,
        group: Group,
        plan: Plan,
        path: tuple[str, ...],
        out: list[Selection],
        conditions: Directives,
        guard: Guard,
        lineage: Lineage,
    ) -> set[int]:
        """An @interfaceObject's `__typename` and concrete-type fragments, from a subgraph owning the interface."""
        assert plan.owner is not None
        option, key_plan, there = plan.owner
        assert option.key is not None
        inner = guard | {(option.type, option.graph)}
        keys, touched = self._emit_condition(
            group, plan.position, option.key, key_plan, path, out, conditions, inner
        )
        touched.add(group.id)
        add_selection(out, Field("__typename"))
        target = self.fetches.entity_group(
            option.graph, path, touched, _conditions_key(conditions), plan.position.type, keys
        )
        add_representation(target, plan.position.type, option.type, keys, keys)
        into = _nest(add_selection(target.selections, Fragment(option.type)).selections, conditions)
        below = self.emit(target, there, path, into, conditions, inner, client=True, ancestors=lineage[:-1])
        return touched | {target.id} | below

    def _unclashed(self, path: tuple[str, ...], items: list[Selection]) -> list[Selection]:
        """Field-set selections the planner adds, aliased where their response key already holds something
        else at this path (`{ upc: name }`, or the same field with other arguments)."""
        taken = self._taken.setdefault(path, {})
        result: list[Selection] = []
        changed = False
        for selection in items:
            if isinstance(selection, Field):
                signature = selection.signature_without_alias()
                if taken.get(selection.response_key, signature) != signature:
                    selection = copy_selection(selection)
                    assert isinstance(selection, Field)
                    selection.alias = _free_alias(taken, selection.name, signature)
                    changed = True
                taken.setdefault(selection.response_key, signature)
            result.append(selection)
        return result if changed else items


def _context_selection(text: str) -> str:
    """The field set of a context argument's selection (`" { prop }"` -> `"prop"`)."""
    text = text.strip()
    return text[1:-1] if text.startswith("{") and text.endswith("}") else text


def _free_alias(taken: dict[str, str], name: str, signature: str) -> str:
    alias = f"{INTERNAL_ALIAS}{name}"
    number = 1
    while taken.get(alias, signature) != signature:
        number += 1
        alias = f"{INTERNAL_ALIAS}{name}_{number}"
    return alias


def _nest(out: list[Selection], conditions: Directives) -> list[Selection]:
    for directives in conditions:
        out = add_selection(out, Fragment(None, directives)).selections
    return out


def _conditions_key(conditions: Directives) -> str:
    return "".join(print_ast(d) for directives in conditions for d in directives)


def _without_gateway_fields(items: list[Selection]) -> list[Selection]:
    """Root selections without what the gateway answers itself (`__typename`, introspection)."""
    out: list[Selection] = []
    for item in items:
        if isinstance(item, Field):
            if item.name != "__typename" and item.name not in INTROSPECTION_ROOTS:
                out.append(item)
            continue
        inner = _without_gateway_fields(item.selections)
        if inner:
            out.append(Fragment(item.type_condition, item.directives, inner))
    return out


__all__ = ["Conditions", "PlanBuilder"]
