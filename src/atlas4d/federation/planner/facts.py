"""What the supergraph says can be resolved where: the questions the planner asks while walking.

Pure functions of the supergraph (plus a cache of parsed field sets); no plan state.
"""

from __future__ import annotations

from atlas4d.federation.planner.operation import parse_field_set
from atlas4d.federation.planner.selection import (
    Field,
    Fragment,
    Selection,
    add_selection,
    merge_selections,
)
from atlas4d.federation.supergraph import Supergraph

Provided = list[Selection]  # the selections an @provides names, at one level


class Facts:
    def __init__(self, supergraph: Supergraph) -> None:
        self.sg = supergraph
        self._field_sets: dict[str, list[Selection]] = {}

    def satisfies(self, object_type: str, condition: str | None) -> bool:
        if condition is None or condition == object_type:
            return True
        kind = self.sg.type_kinds.get(condition)
        if kind == "union":
            return any(m == object_type for _, m in self.sg.union_members.get(condition, []))
        if kind == "interface":
            return any(i == condition for _, i in self.sg.implements.get(object_type, []))
        return False

    def object_selections(self, object_type: str, selections: list[Selection]) -> list[Selection]:
        """Selections that apply to an object type: matching fragments inlined, directive-only ones kept."""
        out: list[Selection] = []
        for selection in selections:
            if isinstance(selection, Field):
                add_selection(out, selection)
            elif self.satisfies(object_type, selection.type_condition):
                inner = self.object_selections(object_type, selection.selections)
                if selection.directives:
                    add_selection(out, Fragment(None, selection.directives, inner))
                else:
                    merge_selections(out, inner)
        return out

    def is_abstract(self, type_name: str) -> bool:
        return self.sg.type_kinds.get(type_name) in ("interface", "union")

    def field_set(self, field_set: str) -> list[Selection]:
        if field_set not in self._field_sets:
            self._field_sets[field_set] = parse_field_set(field_set)
        return self._field_sets[field_set]

    def coverage(self, graph: str, type_name: str, selections: list[Selection]) -> int:
        """How many selected fields the subgraph resolves without leaving it (a cost proxy)."""
        score = 0
        for selection in selections:
            if isinstance(selection, Fragment):
                condition = selection.type_condition or type_name
                score += self.coverage(graph, condition, selection.selections)
                continue
            if (type_name, selection.name) not in self.sg.field_types:
                continue
            if self.sg.can_resolve(type_name, selection.name, graph):
                score += 1
                child = self.sg.field_type(type_name, selection.name)
                score += self.coverage(graph, child, selection.selections)
        return score

    # --- walking selections -------------------------------------------------------------------------------

    def provided_fields(self, type_name: str, provided: Provided | None) -> dict[str, list[Selection]]:
        """Fields an @provides (possibly with fragments) provides on `type_name`, with their sub-selections."""
        fields: dict[str, list[Selection]] = {}
        for selection in provided or ():
            if isinstance(selection, Field):
                fields.setdefault(selection.name, []).extend(selection.selections)
            elif self.satisfies(type_name, selection.type_condition):
                for name, children in self.provided_fields(type_name, selection.selections).items():
                    fields.setdefault(name, []).extend(children)
        return fields

    def local(self, graph: str, type_name: str, field_name: str, provided: Provided | None) -> bool:
        if provided is not None and field_name in self.provided_fields(type_name, provided):
            return True
        if not self.sg.can_resolve(type_name, field_name, graph):
            # A key field the subgraph declares stays resolvable there even when marked @external
            # (Federation 1 extensions: `extend type T @key(fields: "id") { id: ID! @external }`).
            return self.is_key_field_of(graph, type_name, field_name)
        join = self.sg.field_join(type_name, field_name, graph)
        return join is None or not join.requires

    def fields_local(
        self, graph: str, type_name: str, selections: list[Selection], provided: Provided | None
    ) -> bool:
        for item in selections:
            if isinstance(item, Fragment):
                if not self.fields_local(graph, item.type_condition or type_name, item.selections, None):
                    return False
                continue
            if item.name == "__typename":
                continue
            if not self.local(graph, type_name, item.name, provided) and not self.is_key_field_of(
                graph, type_name, item.name
            ):
                return False
            if item.selections:
                child = self.sg.field_type(type_name, item.name)
                sub = self.provided_fields(type_name, provided).get(item.name) if provided else None
                if not self.fields_local(graph, child, item.selections, sub):
                    return False
        return True

    def is_key_field_of(self, graph: str, type_name: str, field_name: str) -> bool:
        """Fields of a key the subgraph declares (even `resolvable: false`) are fields it can return."""
        for key in self.sg.keys(type_name, graph, resolvable_only=False):
            if any(isinstance(s, Field) and s.name == field_name for s in self.field_set(key)):
                return self.sg.knows_field(type_name, field_name, graph)
        return False

    # --- entity jumps -------------------------------------------------------------------------------------

    def jump_targets(self, type_name: str, field_name: str) -> list[tuple[str, str]]:
        """(subgraph, type it knows the entity as) pairs that can resolve the field."""
        targets = [(g, type_name) for g in self.sg.resolving_graphs(type_name, field_name)]
        if targets:
            return targets
        for _, interface in self.sg.implements.get(type_name, []):
            for graph in self.sg.resolving_graphs(interface, field_name):
                if self.sg.is_interface_object(interface, graph) and (graph, interface) not in targets:
                    targets.append((graph, interface))
        return targets

    def feasible(self, graph: str, type_name: str, selections: list[Selection], depth: int = 0) -> bool:
        """Whether the selections can be planned from the subgraph (a dry run of the walk, without keys hops
        through third subgraphs)."""
        if depth > 12:
            return True
        if self.is_abstract(type_name):
            if self.sg.is_interface_object(type_name, graph):
                return True
            return all(
                self.feasible(graph, t, self.object_selections(t, selections), depth + 1)
                for t in self.sg.possible_types_in_graph(type_name, graph)
            )
        for selection in self.object_selections(type_name, selections):
            if isinstance(selection, Fragment):
                if not self.feasible(graph, type_name, selection.selections, depth + 1):
                    return False
                continue
            if selection.name == "__typename" or (type_name, selection.name) not in self.sg.field_types:
                continue
            where = graph
            if not self.local(graph, type_name, selection.name, None):
                targets = [
                    (g, t) for g, t in self.jump_targets(type_name, selection.name) if self.sg.keys(t, g)
                ]
                if not targets:
                    return False
                where = targets[0][0]
            if selection.selections and not self.feasible(
                where, self.sg.field_type(type_name, selection.name), selection.selections, depth + 1
            ):
                return False
        return True
