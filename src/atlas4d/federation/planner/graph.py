"""The supergraph's query graph: what each subgraph can resolve, and how to move between subgraphs.

A vertex is a type as one subgraph knows it, `(type, subgraph)`. Edges leave a vertex by
- a **field** the subgraph resolves there (to the vertex of the field's type in that subgraph — the type the
  subgraph declares, which may be narrower than the supergraph's: `join__field(type:)`), with the field's
  `@requires` as a condition;
- a **key**: from `(T, any subgraph)` to `(T, S)` when S has a resolvable `@key` on T, the key's fields as the
  condition (they must be resolvable from where the jump starts); to `(I, S)` when S declares T's interface I as
  an `@interfaceObject`; from an interface object back to a subgraph that owns the real interface (which knows
  the concrete types);
- a **downcast** from an abstract type to each object type the subgraph can return for it.

Built once per supergraph (`QueryGraph(supergraph)`); the planner asks it questions while searching for the
cheapest way to resolve each selection. `@provides` is a property of the position, not of the graph: a field
provided by its parent field is resolvable there even when the subgraph marks it `@external`.
"""

from __future__ import annotations

from functools import cached_property

from atlas4d.federation.planner.operation import parse_field_set
from atlas4d.federation.planner.selection import Field, Fragment, Selection
from atlas4d.federation.supergraph import ContextArgument, Supergraph

Provided = list[Selection]  # the selections an @provides names, at one level


class QueryGraph:
    def __init__(self, supergraph: Supergraph, override_labels: frozenset[str] = frozenset()) -> None:
        self.sg = supergraph
        # Progressive @override(label:): labels switched on for this graph's plans (see `resolves`).
        self.override_labels = override_labels
        self._field_sets: dict[str, list[Selection]] = {}
        self._resolvers: dict[tuple[str, str, bool], tuple[str, ...]] = {}

    @cached_property
    def graph_order(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.sg.graphs)}

    # --- types ----------------------------------------------------------------------------------------------
    def is_abstract(self, type_name: str) -> bool:
        return self.sg.type_kinds.get(type_name) in ("interface", "union")

    def is_object(self, type_name: str) -> bool:
        return self.sg.type_kinds.get(type_name) == "object"

    def has_vertex(self, type_name: str, graph: str) -> bool:
        return graph in self.sg.graphs_of_type(type_name)

    def is_interface_object(self, type_name: str, graph: str) -> bool:
        return self.sg.is_interface_object(type_name, graph)

    def possible_types(self, abstract: str, graph: str) -> list[str]:
        """Object types the subgraph can return where its schema says `abstract`."""
        return self.sg.possible_types_in_graph(abstract, graph)

    def satisfies(self, object_type: str, condition: str | None) -> bool:
        """Whether a fragment on `condition` applies to objects of `object_type` (in the supergraph)."""
        if condition is None or condition == object_type:
            return True
        kind = self.sg.type_kinds.get(condition)
        if kind == "union":
            return any(m == object_type for _, m in self.sg.union_members.get(condition, []))
        if kind == "interface":
            return any(i == condition for _, i in self.sg.implements.get(object_type, []))
        return False

    def field_type(self, type_name: str, field_name: str) -> str:
        """The supergraph's (named) type of a field."""
        return self.sg.field_types[(type_name, field_name)]

    def has_field(self, type_name: str, field_name: str) -> bool:
        return (type_name, field_name) in self.sg.field_types

    def subgraph_field_type(self, type_name: str, field_name: str, graph: str) -> str:
        """The named type the subgraph declares for the field (narrower than the supergraph's at times)."""
        join = self.sg.field_join(type_name, field_name, graph)
        if join is not None and join.type:
            return join.type.replace("[", "").replace("]", "").replace("!", "").strip()
        return self.sg.field_types[(type_name, field_name)]

    def subgraph_field_type_text(self, type_name: str, field_name: str, graph: str) -> str:
        """The full type (`[ID!]`) the subgraph declares: what two fields sharing a response key must agree on."""
        join = self.sg.field_join(type_name, field_name, graph)
        if join is not None and join.type:
            return join.type
        return self.sg.field_type_texts.get((type_name, field_name), "")

    # --- fields -----------------------------------------------------------------------------------------------
    def resolvers(self, type_name: str, field_name: str, *, condition: bool = False) -> tuple[str, ...]:
        """Subgraphs that resolve `type.field` themselves, in supergraph order. `condition`: for key and
        `@requires` field sets, where a field overridden but still used by its old subgraph counts."""
        cache_key = (type_name, field_name, condition)
        found = self._resolvers.get(cache_key)
        if found is None:
            found = tuple(self._compute_resolvers(type_name, field_name, condition))
            self._resolvers[cache_key] = found
        return found

    def _compute_resolvers(self, type_name: str, field_name: str, condition: bool) -> list[str]:
        joins = self.sg.field_joins.get((type_name, field_name))
        if joins is None:
            return [g for g in self.sg.graphs_of_type(type_name) if not self._fake_type(type_name, g)]
        out: list[str] = []
        overridden_now = {j.override for j in joins if j.override and self._override_active(j.override_label)}
        for join in joins:
            if join.graph is None:
                continue
            if join.external and not self.is_fake_external(type_name, field_name, join.graph):
                continue
            if join.override_label is not None and join.override is None:
                # the old side of a progressive override: still serving while the label is off
                if self._override_active(join.override_label):
                    continue
            elif join.override is not None and not self._override_active(join.override_label):
                continue
            if join.used_overridden and not condition:
                continue
            if join.graph in overridden_now and not condition:
                continue
            out.append(join.graph)
        return out

    def _fake_type(self, type_name: str, graph: str) -> bool:
        return False

    def _override_active(self, label: str | None) -> bool:
        return label is None or label in self.override_labels

    def is_fake_external(self, type_name: str, field_name: str, graph: str) -> bool:
        """An `@external` key field of a type the subgraph *extends* (`extend type T @key(...)`, the Federation 1
        style) is one the subgraph returns itself (Apollo calls these "fake" externals)."""
        for join in self.sg.type_join(type_name, graph):
            if (
                join.extension
                and join.key
                and any(isinstance(s, Field) and s.name == field_name for s in self.field_set(join.key))
            ):
                return True
        return False

    def resolves(self, type_name: str, field_name: str, graph: str, *, condition: bool = False) -> bool:
        if field_name == "__typename":
            return True
        return graph in self.resolvers(type_name, field_name, condition=condition)

    def requires(self, type_name: str, field_name: str, graph: str) -> str | None:
        join = self.sg.field_join(type_name, field_name, graph)
        return join.requires if join is not None else None

    def context_arguments(self, type_name: str, field_name: str, graph: str) -> tuple[ContextArgument, ...]:
        """The field's `@fromContext` arguments in that subgraph (their values come from an ancestor)."""
        join = self.sg.field_join(type_name, field_name, graph)
        return join.context_arguments if join is not None else ()

    def sets_context(self, type_name: str, context: str) -> bool:
        """Whether objects of `type_name` set the context (`@context` on the type, or on an interface or union
        it belongs to)."""
        return any(self.satisfies(type_name, setter) for setter in self.sg.contexts.get(context, ()))

    def provides(self, type_name: str, field_name: str, graph: str) -> str | None:
        join = self.sg.field_join(type_name, field_name, graph)
        return join.provides if join is not None else None

    def field_set(self, text: str) -> list[Selection]:
        found = self._field_sets.get(text)
        if found is None:
            found = self._field_sets[text] = parse_field_set(text)
        return found

    # --- keys -------------------------------------------------------------------------------------------------
    def keys(self, type_name: str, graph: str) -> list[str]:
        """Resolvable keys of the type in the subgraph (what an `_entities` call there can be given)."""
        return self.sg.keys(type_name, graph)

    def jump_targets(self, type_name: str, field_name: str) -> list[tuple[str, str]]:
        """(subgraph, the type it knows the entity as) pairs that resolve the field and accept a key."""
        targets = [(g, type_name) for g in self.resolvers(type_name, field_name) if self.keys(type_name, g)]
        for _, interface in self.sg.implements.get(type_name, []):
            for graph in self.resolvers(interface, field_name):
                if (
                    self.is_interface_object(interface, graph)
                    and (graph, interface) not in targets
                    and self.keys(interface, graph)
                ):
                    targets.append((graph, interface))
        return targets

    def interface_owners(self, interface: str) -> list[str]:
        """Subgraphs where the interface is a real interface with a resolvable key: they turn an interface
        object's representation into the concrete type."""
        return [
            g
            for g in self.sg.graphs_of_type(interface)
            if not self.is_interface_object(interface, g) and self.keys(interface, g)
        ]

    # --- @provides ----------------------------------------------------------------------------------------------
    def provided_fields(self, type_name: str, provided: Provided | None) -> dict[str, list[Selection]]:
        """Fields an @provides (fragments included) names on `type_name`, with their sub-selections."""
        fields: dict[str, list[Selection]] = {}
        for selection in provided or ():
            if isinstance(selection, Field):
                fields.setdefault(selection.name, []).extend(selection.selections)
            elif isinstance(selection, Fragment) and self.satisfies(type_name, selection.type_condition):
                for name, children in self.provided_fields(type_name, selection.selections).items():
                    fields.setdefault(name, []).extend(children)
        return fields

    def key_field_names(self, type_name: str, graph: str) -> set[str]:
        """Top-level fields of every key the subgraph declares on the type (`resolvable: false` ones too)."""
        names: set[str] = set()
        for key in self.sg.keys(type_name, graph, resolvable_only=False):
            names.update(s.name for s in self.field_set(key) if isinstance(s, Field))
        return names
