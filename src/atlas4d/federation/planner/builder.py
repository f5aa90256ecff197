"""Build a query plan for one operation over a supergraph's join metadata.

The walk follows the operation's selections. A field the current subgraph resolves stays in the current fetch;
any other field becomes an `_entities` fetch to a subgraph that resolves it, keyed by a key of the type that the
current fetch can supply (a key it resolves itself, or one fetched first through another subgraph). Fields with
`@requires` always go through `_entities`, after the fetches that supply the required fields. Abstract types are
expanded into one inline fragment per concrete type the subgraph can return, so each concrete type is planned
like an object. Fetches that share subgraph, response path and dependencies are merged, which is what keeps
`_entities` calls to one per subgraph per step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from graphql import print_ast
from graphql.language import ast

from atlas4d.federation.errors import PlanningError
from atlas4d.federation.planner.facts import Facts, Provided
from atlas4d.federation.planner.nodes import Representation
from atlas4d.federation.planner.operation import INTROSPECTION_ROOTS, Operation
from atlas4d.federation.planner.selection import (
    Field,
    Fragment,
    Selection,
    add_selection,
    copy_selection,
    merge_selections,
)
from atlas4d.federation.supergraph import Supergraph

MAX_KEY_HOPS = 8
Conditions = tuple[tuple[ast.DirectiveNode, ...], ...]  # directive-only fragments around a level's fields
INTERNAL_ALIAS = "__fed_"


@dataclass
class Group:
    """A fetch under construction."""

    id: int
    graph: str
    entity: bool
    merge_at: tuple[str, ...]
    depends: frozenset[int]
    selections: list[Selection] = field(default_factory=list)
    representations: dict[str, Representation] = field(default_factory=dict)


class PlanBuilder:
    def __init__(self, supergraph: Supergraph, operation: Operation) -> None:
        self.sg = supergraph
        self.operation = operation
        self.groups: list[Group] = []
        self._entity_groups: dict[tuple[str, tuple[str, ...], frozenset[int], str], Group] = {}
        self.facts = Facts(supergraph)
        self._client_keys: list[dict[str, str]] = []
        self._conditions: Conditions = ()
        self._hops = 0

    # --- entry point --------------------------------------------------------------------------------------
    def build(self) -> list[Group]:
        root_type = self._root_type(self.operation.kind)
        items = self.facts.object_selections(root_type, self.operation.selections)
        if self.operation.kind == "mutation":
            for item in items:
                previous = frozenset(g.id for g in self.groups)
                self._plan_root_item(root_type, item, (), previous, sequential=True)
        else:
            for item in items:
                self._plan_root_item(root_type, item, (), frozenset(), sequential=False)
        return self.groups

    def _root_type(self, kind: str) -> str:
        schema = self.sg.api_schema
        root = {"query": schema.query_type, "mutation": schema.mutation_type}.get(kind)
        if root is None:
            raise PlanningError(f"The schema has no {kind} type (subscriptions are not supported).")
        return root.name

    def _plan_root_item(
        self,
        root_type: str,
        item: Selection,
        wrappers: tuple[Fragment, ...],
        after: frozenset[int],
        *,
        sequential: bool,
    ) -> None:
        if isinstance(item, Fragment):
            for inner in item.selections:
                self._plan_root_item(root_type, inner, (*wrappers, item), after, sequential=sequential)
            return
        if item.name == "__typename" or item.name in INTROSPECTION_ROOTS:
            return
        candidates = self.sg.resolving_graphs(root_type, item.name)
        if not candidates:
            raise PlanningError(f'No subgraph resolves "{root_type}.{item.name}".')
        ranked = sorted(candidates, key=lambda g: -self.facts.coverage(g, root_type, [item]))
        feasible = [g for g in ranked if self.facts.feasible(g, root_type, [item])]
        if feasible or item.leaf or len(candidates) == 1:
            parts = [((feasible or ranked)[0], item)]
        else:
            parts = self._split_shared_root(root_type, item, ranked)
        for graph, part in parts:
            group = self._root_group(graph, after, sequential=sequential)
            target = group.selections
            for wrapper in wrappers:
                kept = add_selection(target, Fragment(None, wrapper.directives))
                target = kept.selections
            self._add_local_field(group, graph, root_type, part, (), target, None)

    def _split_shared_root(self, root_type: str, item: Field, ranked: list[str]) -> list[tuple[str, Field]]:
        """A shareable root field no single subgraph can serve whole, returning a type without a key (so no
        entity jump can fill the gaps): ask each subgraph for the part it can serve; the answers merge."""
        child_type = self.sg.field_type(root_type, item.name)
        items = (
            item.selections
            if self.facts.is_abstract(child_type)
            else self.facts.object_selections(child_type, item.selections)
        )
        parts: dict[str, Field] = {}

        def place(selection: Selection, wrappers: tuple[Fragment, ...]) -> None:
            if isinstance(selection, Fragment) and selection.type_condition is None:
                for inner in selection.selections:  # split directive-only fragments too, keeping directives
                    place(inner, (*wrappers, selection))
                return
            graph = next((g for g in ranked if self.facts.feasible(g, child_type, [selection])), ranked[0])
            part = parts.setdefault(
                graph, Field(item.name, item.alias, item.arguments, item.directives, [], False)
            )
            target = part.selections
            for wrapper in wrappers:
                target = add_selection(target, Fragment(None, wrapper.directives)).selections
            add_selection(target, selection)

        for selection in items:
            place(selection, ())
        return list(parts.items())

    def _root_group(self, graph: str, after: frozenset[int], *, sequential: bool) -> Group:
        if sequential:
            last = self.groups[-1] if self.groups else None
            # Consecutive mutation fields of one subgraph share a fetch only when nothing ran in between.
            if (
                last is not None
                and not last.entity
                and last.graph == graph
                and last.depends == after - {last.id}
            ):
                return last
        else:
            for group in self.groups:
                if not group.entity and group.graph == graph:
                    return group
        group = Group(len(self.groups), graph, False, (), after)
        self.groups.append(group)
        return group

    # --- type helpers -------------------------------------------------------------------------------------
    def _child_path(self, type_name: str, field: Field, path: tuple[str, ...]) -> tuple[str, ...]:
        depth = self.sg.field_list_depths.get((type_name, field.name), 0)
        return (*path, field.response_key, *(["@"] * depth))

    def _add_local_field(
        self,
        group: Group,
        graph: str,
        type_name: str,
        item: Field,
        path: tuple[str, ...],
        out: list[Selection],
        provided: Provided | None,
    ) -> None:
        kept = add_selection(out, item.shallow())
        if item.leaf:
            return
        assert isinstance(kept, Field)
        child_type = self.sg.field_type(type_name, item.name)
        child_provided: Provided | None = None
        if provided is not None:
            child_provided = self.facts.provided_fields(type_name, provided).get(item.name)
        join = self.sg.field_join(type_name, item.name, graph)
        if join is not None and join.provides:
            child_provided = self.facts.field_set(join.provides)
        with self._conditional(tuple(d for d in item.directives if d.name.value in ("skip", "include"))):
            self.plan_selections(
                group,
                graph,
                child_type,
                item.selections,
                self._child_path(type_name, item, path),
                kept.selections,
                child_provided,
            )

    @contextlib.contextmanager
    def _conditional(self, directives: tuple[ast.DirectiveNode, ...]) -> Iterator[None]:
        """Fields planned inside are under these @skip/@include conditions (an enclosing fragment or field):
        a field sent to another subgraph from there carries them along."""
        if not directives:
            yield
            return
        self._conditions = (*self._conditions, directives)
        try:
            yield
        finally:
            self._conditions = self._conditions[:-1]

    def plan_selections(
        self,
        group: Group,
        graph: str,
        type_name: str,
        selections: list[Selection],
        path: tuple[str, ...],
        out: list[Selection],
        provided: Provided | None,
    ) -> set[int]:
        """Plan selections on a value of `type_name` fetched by `group`; returns the groups that got fields."""
        if not self.facts.is_abstract(type_name):
            return self.plan_object(
                group,
                graph,
                type_name,
                self.facts.object_selections(type_name, selections),
                path,
                out,
                provided,
            )
        if self.sg.is_interface_object(type_name, graph):
            return self._plan_interface_object(group, graph, type_name, selections, path, out)
        add_selection(out, Field("__typename"))
        touched: set[int] = {group.id}
        for object_type in self.sg.possible_types_in_graph(type_name, graph):
            applied = self.facts.object_selections(object_type, selections)
            if not applied:
                continue
            fragment = add_selection(out, Fragment(object_type))
            touched |= self.plan_object(
                group, graph, object_type, applied, path, fragment.selections, provided
            )
        return touched

    def plan_object(
        self,
        group: Group,
        graph: str,
        type_name: str,
        selections: list[Selection],
        path: tuple[str, ...],
        out: list[Selection],
        provided: Provided | None,
        *,
        client: bool = True,
        wrapped: bool = False,
    ) -> set[int]:
        """Plan fields of one object. `client`: the operation's own selections (their response keys are what
        planner-added fields must not collide with); `wrapped`: inside a directive-only fragment of the level."""
        if client:
            keys = dict(self._client_keys[-1]) if wrapped and self._client_keys else {}
            keys.update(_response_keys(selections))
            self._client_keys.append(keys)
        try:
            return self._plan_object_fields(group, graph, type_name, selections, path, out, provided)
        finally:
            if client:
                self._client_keys.pop()

    def _plan_object_fields(
        self,
        group: Group,
        graph: str,
        type_name: str,
        selections: list[Selection],
        path: tuple[str, ...],
        out: list[Selection],
        provided: Provided | None,
    ) -> set[int]:
        touched: set[int] = {group.id}
        for item in selections:
            if isinstance(item, Fragment):
                wrapper = Fragment(None, item.directives)
                with self._conditional(item.directives):
                    touched |= self.plan_object(
                        group,
                        graph,
                        type_name,
                        item.selections,
                        path,
                        wrapper.selections,
                        provided,
                        wrapped=True,
                    )
                if wrapper.selections:
                    add_selection(out, wrapper)
                continue
            if item.name == "__typename":
                add_selection(out, Field("__typename"))
                continue
            if self.facts.local(graph, type_name, item.name, provided):
                self._add_local_field(group, graph, type_name, item, path, out, provided)
            else:
                touched.add(self._jump(group, graph, type_name, item, path, out, provided))
        return touched

    def _jump(
        self,
        group: Group,
        graph: str,
        type_name: str,
        item: Field,
        path: tuple[str, ...],
        out: list[Selection],
        provided: Provided | None,
    ) -> int:
        targets = [
            (g, known_as)
            for g, known_as in self.facts.jump_targets(type_name, item.name)
            if self.sg.keys(known_as, g)
        ]
        if not targets or self._hops > MAX_KEY_HOPS:
            raise PlanningError(
                f'Cannot plan "{type_name}.{item.name}": no subgraph reachable from "{graph}" resolves it by key.'
            )

        def rank(target: tuple[str, str]) -> tuple[int, int]:
            g, known_as = target
            direct = any(
                self.facts.fields_local(graph, type_name, self.facts.field_set(k), provided)
                for k in self.sg.keys(known_as, g)
            )
            return (int(direct), self.facts.coverage(g, known_as, [item]))

        target_graph, known_as = max(targets, key=rank)
        keys = self.sg.keys(known_as, target_graph)
        direct_keys = [
            k for k in keys if self.facts.fields_local(graph, type_name, self.facts.field_set(k), provided)
        ]
        key = direct_keys[0] if direct_keys else keys[0]
        key_selections = self._unclashed(out, self.facts.field_set(key))
        add_selection(out, Field("__typename"))
        join = self.sg.field_join(known_as, item.name, target_graph)
        required: list[Selection] = []
        self._hops += 1  # keys and @requires inputs that need jumps of their own: bounded
        try:
            depends = self.plan_object(
                group, graph, type_name, key_selections, path, out, provided, client=False
            )
            if join is not None and join.requires:
                required = self._unclashed(out, self.facts.field_set(join.requires))
                depends |= self.plan_object(
                    group, graph, type_name, required, path, out, provided, client=False
                )
        finally:
            self._hops -= 1
        target = self._entity_group(target_graph, path, frozenset(depends), self._conditions_key())
        representation = target.representations.setdefault(type_name, Representation(known_as))
        representation.keys.update(s.response_key for s in key_selections if isinstance(s, Field))
        merge_selections(representation.selections, key_selections)
        merge_selections(representation.selections, required)
        target_out = add_selection(target.selections, Fragment(known_as)).selections
        for directives in self._conditions:
            target_out = add_selection(target_out, Fragment(None, directives)).selections
        self._add_local_field(target, target_graph, known_as, item, path, target_out, None)
        return target.id

    def _unclashed(self, out: list[Selection], selections: list[Selection]) -> list[Selection]:
        """Field-set selections the planner adds, aliased where the client already uses the response key for
        something else (`{ upc: name }`); representations read the alias and send the field name."""
        taken = dict(self._client_keys[-1]) if self._client_keys else {}
        taken.update(_response_keys(out))
        result: list[Selection] = []
        for selection in selections:
            clash = isinstance(selection, Field) and (
                taken.get(selection.response_key, selection.signature()) != selection.signature()
            )
            if clash:
                selection = copy_selection(selection)
                assert isinstance(selection, Field)
                selection.alias = f"{INTERNAL_ALIAS}{selection.name}"
            result.append(selection)
        return result

    def _conditions_key(self) -> str:
        return "".join(print_ast(d) for directives in self._conditions for d in directives)

    def _entity_group(
        self, graph: str, path: tuple[str, ...], depends: frozenset[int], conditions: str = ""
    ) -> Group:
        """Fetches under different @skip/@include conditions stay apart: a representation whose required
        fields a condition left out is not sent, and must not hold back the fetch of unconditional fields."""
        key = (graph, path, depends, conditions)
        group = self._entity_groups.get(key)
        if group is None:
            group = Group(len(self.groups), graph, True, path, depends)
            self.groups.append(group)
            self._entity_groups[key] = group
        return group

    def _plan_interface_object(
        self,
        group: Group,
        graph: str,
        interface: str,
        selections: list[Selection],
        path: tuple[str, ...],
        out: list[Selection],
    ) -> set[int]:
        """An interface the subgraph only knows as an @interfaceObject. Interface fields are planned as on an
        object (those it lacks jump, by the interface's key, to whichever subgraph resolves them); `__typename`
        and fragments on concrete types need a subgraph with the real interface, which knows the types."""
        local: list[Selection] = []
        remote: list[Selection] = []
        for selection in selections:
            if isinstance(selection, Field) and selection.name != "__typename":
                local.append(selection)
            elif isinstance(selection, Fragment) and selection.type_condition in (None, interface):
                sub_local = self.facts.fields_local(graph, interface, selection.selections, None)
                (local if sub_local and not selection.directives else remote).append(selection)
            else:
                remote.append(selection)
        add_selection(out, Field("__typename"))
        touched = self.plan_object(
            group, graph, interface, self.facts.object_selections(interface, local), path, out, None
        )
        if not remote:
            return touched
        owners = [
            g
            for g in self.sg.graphs_of_type(interface)
            if not self.sg.is_interface_object(interface, g) and self.sg.keys(interface, g)
        ]
        if not owners:
            raise PlanningError(f'No subgraph resolves interface "{interface}" by key.')
        owner = owners[0]
        key = self._unclashed(out, self.facts.field_set(self.sg.keys(interface, owner)[0]))
        depends = self.plan_object(group, graph, interface, key, path, out, None, client=False)
        target = self._entity_group(owner, path, frozenset(depends))
        representation = target.representations.setdefault(interface, Representation(interface))
        representation.keys.update(s.response_key for s in key if isinstance(s, Field))
        merge_selections(representation.selections, key)
        fragment = add_selection(target.selections, Fragment(interface))
        touched.add(target.id)
        touched |= self.plan_selections(target, owner, interface, remote, path, fragment.selections, None)
        return touched


def _response_keys(selections: list[Selection]) -> dict[str, str]:
    """Response key -> field signature at one level (directive-only fragments share the level)."""
    keys: dict[str, str] = {}
    for selection in selections:
        if isinstance(selection, Field):
            keys.setdefault(selection.response_key, selection.signature())
        elif selection.type_condition is None:
            for key, signature in _response_keys(selection.selections).items():
                keys.setdefault(key, signature)
    return keys
