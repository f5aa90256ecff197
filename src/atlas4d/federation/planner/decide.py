"""Choosing, for every selection, where it is resolved: the cheapest way through the query graph.

`Chooser.level(position, items)` answers, for the fields selected on one object at one position
(a type as one subgraph knows it), which option resolves each field:
- `local`: the subgraph resolves it where we are (or an enclosing `@provides` provides it);
- `jump`: an `_entities` fetch to another subgraph (or the same one, for a field with `@requires`), with a key
  the current position can supply — the key's fields are themselves planned from here, so a key the current
  subgraph lacks costs the jumps that fetch it (multi-hop paths come from this recursion);
- `owner`: from an `@interfaceObject` to a subgraph that knows the interface's concrete types.
A field with a sub-selection takes one option whole when one can serve all of it, else its sub-selection is split
between options (a value type whose fields live in different subgraphs). A field no option can serve makes the
level infeasible, and its parent looks for another way (a jump from the nearest entity ancestor); when none is
left, planning fails with the reason.

Cost = fetches (jumps to one subgraph at one path share a fetch), then distinct subgraphs; equal costs keep the
first option in this order: local (providers included), then subgraphs in supergraph order. Results are memoised
per (position, selection list), so each subtree is costed once per position whatever the number of callers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from atlas4d.federation.planner.graph import Provided, QueryGraph
from atlas4d.federation.planner.selection import Field, Fragment, Selection, add_selection, merge_selections

MAX_COMBINATIONS = 256  # exhaustive search of a level's options up to this many combinations, greedy beyond
MAX_DEPTH = 48  # nested key / @requires resolutions (a supergraph would need a cycle of keys to get here)
Conditions = tuple[Fragment, ...]  # directive-only fragments around a field (@skip / @include)
Guard = frozenset[tuple[str, str]]  # (type, subgraph) jumps being resolved: not taken again inside their keys


@dataclass(frozen=True)
class Cost:
    deeper: int = 0  # fetches at deeper response paths
    here: frozenset[str] = frozenset()  # subgraphs fetched at this level's path (one fetch each)
    graphs: frozenset[str] = frozenset()  # every subgraph used
    provided: int = 0  # fields taken from an @provides (preferred when all else is equal)

    @property
    def fetches(self) -> int:
        return self.deeper + len(self.here)

    @property
    def rank(self) -> tuple[int, int, int]:
        return (self.fetches, len(self.graphs), -self.provided)

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.deeper + other.deeper,
            self.here | other.here,
            self.graphs | other.graphs,
            self.provided + other.provided,
        )

    def nested(self) -> Cost:
        """This level's cost seen from its parent level: every fetch of it is deeper."""
        return Cost(self.fetches, frozenset(), self.graphs, self.provided)


ZERO = Cost()


ROOT = ""  # the graph of the position above root fields: every subgraph's root type is one jump away


@dataclass(frozen=True, eq=False)
class Position:
    type: str  # as the subgraph knows it
    graph: str
    provided: Provided | None = None  # what an enclosing @provides provides at this level
    condition: bool = False  # inside a key or @requires field set (overridden fields still used count)

    def key(self) -> tuple[str, str, int, bool]:
        provided = id(self.provided) if self.provided is not None else 0
        return (self.type, self.graph, provided, self.condition)

    def at(self, type_name: str, graph: str | None = None, provided: Provided | None = None) -> Position:
        return Position(type_name, self.graph if graph is None else graph, provided, self.condition)


@dataclass(frozen=True)
class Option:
    kind: str  # "local" | "jump" | "root" | "owner"
    graph: str
    type: str  # the type at the target (the interface for an @interfaceObject subgraph)
    key: str | None = None  # the key field set of a jump
    requires: str | None = None  # the @requires field set the target needs


@dataclass
class Part:
    """A field resolved through one option, with the part of its sub-selection served there."""

    option: Option
    items: list[Selection]
    child: Plan | None  # the plan of `items` at the option's child position (None for leaves)
    key_plan: Plan | None = None  # how the key (and @requires) fields are obtained from the position
    requires_plan: Plan | None = None


@dataclass
class FieldChoice:
    field: Field
    conditions: Conditions
    parts: list[Part]


@dataclass
class Plan:
    """The choices for one selection list at one position. Abstract positions have one plan per object type
    (`by_type`); an interface object's `__typename` and concrete fragments go to `owner`."""

    position: Position
    cost: Cost
    fields: list[FieldChoice] = field(default_factory=list)
    by_type: dict[str, Plan] = field(default_factory=dict)
    owner: tuple[Option, Plan, Plan] | None = None  # (jump to the owner, its key plan, plan there)
    owner_items: list[Selection] = field(default_factory=list)
    abstract: bool = False  # `by_type` holds the plan (else `fields`, on the type itself)


class Infeasible(Exception):
    pass


class Chooser:
    def __init__(self, graph: QueryGraph) -> None:
        self.g = graph
        self._plans: dict[tuple[object, ...], Plan | None] = {}
        self._objects: dict[tuple[str, int], list[Selection]] = {}
        self._singles: dict[tuple[int, int], list[Selection]] = {}
        self._provided: dict[tuple[str, str, int], Provided | None] = {}
        self.failure: str | None = None  # the deepest reason a field could not be planned

    # --- selections ---------------------------------------------------------------------------------------------
    def object_items(self, type_name: str, selections: list[Selection]) -> list[Selection]:
        """Selections that apply to objects of `type_name`: typed fragments that apply inlined, directive-only
        fragments kept (their conditions matter). Cached: the same list object for the same input."""
        cache_key = (type_name, id(selections))
        found = self._objects.get(cache_key)
        if found is None:
            found = self._objects[cache_key] = self._flatten(type_name, selections)
        return found

    def _flatten(self, type_name: str, selections: list[Selection]) -> list[Selection]:
        out: list[Selection] = []
        for selection in selections:
            if isinstance(selection, Field):
                add_selection(out, selection)
            elif self.g.satisfies(type_name, selection.type_condition):
                inner = self._flatten(type_name, selection.selections)
                if selection.directives:
                    add_selection(out, Fragment(None, selection.directives, inner))
                else:
                    merge_selections(out, inner)
        return out

    def _interface_object_items(self, interface: str, selections: list[Selection]) -> list[Selection]:
        """At an @interfaceObject, fragments on the interface itself are inlined; fragments on its concrete
        types stay (only a subgraph owning the interface can answer them)."""
        cache_key = ("@" + interface, id(selections))
        found = self._objects.get(cache_key)
        if found is None:
            found = []
            for selection in selections:
                if isinstance(selection, Fragment) and selection.type_condition == interface:
                    merge_selections(found, self._interface_object_items(interface, selection.selections))
                else:
                    add_selection(found, selection)
            self._objects[cache_key] = found
        return found

    def single(self, selections: list[Selection], index: int) -> list[Selection]:
        cache_key = (id(selections), index)
        found = self._singles.get(cache_key)
        if found is None:
            found = self._singles[cache_key] = [selections[index]]
        return found

    def child_provided(self, position: Position, field_name: str, graph: str) -> Provided | None:
        """What is provided below `field_name`: the field's own @provides, or the part of an enclosing one."""
        cache_key = (position.type, field_name, id(position.provided) if position.provided else 0)
        if cache_key in self._provided:
            return self._provided[cache_key]
        provided: Provided | None = None
        if position.provided is not None:
            provided = self.g.provided_fields(position.type, position.provided).get(field_name)
        provides = self.g.provides(position.type, field_name, graph)
        if provides:
            provided = self.g.field_set(provides)
        self._provided[cache_key] = provided
        return provided

    # --- levels -------------------------------------------------------------------------------------------------
    def plan(self, position: Position, items: list[Selection], guard: Guard = frozenset()) -> Plan | None:
        """The cheapest plan of `items` at `position`, or None when some field cannot be resolved from there."""
        cache_key = (*position.key(), id(items), guard)
        if cache_key in self._plans:
            return self._plans[cache_key]
        self._plans[cache_key] = None  # a recursion into the same question is infeasible
        if len(guard) > MAX_DEPTH:
            return None
        if (
            self.g.is_abstract(position.type)
            and not self.g.is_interface_object(position.type, position.graph)
            and self.g.possible_types(position.type, position.graph)
        ):
            result = self._abstract(position, items, guard)
        else:
            result = self._object(position, items, guard)
        self._plans[cache_key] = result
        return result

    def _abstract(self, position: Position, items: list[Selection], guard: Guard) -> Plan | None:
        plan = Plan(position, Cost(graphs=frozenset({position.graph})), abstract=True)
        for object_type in self.g.possible_types(position.type, position.graph):
            applied = self.object_items(object_type, items)
            sub = self.plan(position.at(object_type, provided=position.provided), applied, guard)
            if sub is None:
                return None
            plan.by_type[object_type] = sub
            plan.cost = plan.cost + sub.cost
        return plan

    def _object(self, position: Position, items: list[Selection], guard: Guard) -> Plan | None:
        interface_object = self.g.is_interface_object(position.type, position.graph)
        items = (
            self._interface_object_items(position.type, items)
            if interface_object
            else self.object_items(position.type, items)
        )
        fields: list[tuple[Field, Conditions]] = []
        owner_items: list[Selection] = []
        for item, conditions in _with_conditions(items, ()):
            if isinstance(item, Fragment) or (interface_object and item.name == "__typename"):
                owner_items.append(_wrapped(item, conditions))
            else:
                fields.append((item, conditions))
        alternatives: list[list[tuple[list[Part], Cost]]] = []
        for item, _ in fields:
            found = self._field_alternatives(position, item, guard)
            if not found:
                return None
            alternatives.append(found)
        plan = Plan(position, Cost(graphs=frozenset({position.graph})))
        best = _combine(alternatives)
        for (item, conditions), (parts, cost) in zip(fields, best, strict=True):
            plan.fields.append(FieldChoice(item, conditions, parts))
            plan.cost = plan.cost + cost
        if owner_items:
            owner = self._owner(position, owner_items, guard)
            if owner is None:
                return None
            plan.owner = owner
            plan.owner_items = owner_items
            option, key_plan, there = owner
            plan.cost = plan.cost + Cost(0, frozenset({option.graph}), frozenset({option.graph}))
            plan.cost = plan.cost + key_plan.cost + there.cost
        return plan

    # --- fields -------------------------------------------------------------------------------------------------
    def _field_alternatives(
        self, position: Position, item: Field, guard: Guard
    ) -> list[tuple[list[Part], Cost]]:
        if item.name == "__typename" or not self.g.has_field(position.type, item.name):
            option = Option("local", position.graph, position.type)
            return [([Part(option, [], None)], ZERO)]
        options = self._options(position, item, guard)
        if not options:
            self._fail(position, item, "no subgraph that resolves it can be reached from here")
            return []
        whole: list[tuple[list[Part], Cost]] = []
        for option, base, key_plan, requires_plan in options:
            if item.leaf:
                whole.append(([Part(option, [], None, key_plan, requires_plan)], base))
                continue
            child_position = self._child_position(position, item, option)
            child = self.plan(child_position, item.selections, guard)
            if child is not None:
                part = Part(option, item.selections, child, key_plan, requires_plan)
                whole.append(([part], base + child.cost.nested()))
        if whole or item.leaf:
            whole.sort(key=lambda alternative: alternative[1].rank)
            return whole
        split = self._split(position, item, options, guard)
        return [split] if split is not None else []

    def _split(
        self,
        position: Position,
        item: Field,
        options: list[tuple[Option, Cost, Plan | None, Plan | None]],
        guard: Guard,
    ) -> tuple[list[Part], Cost] | None:
        """No option serves the whole sub-selection: give each sub-item to an option that can serve it (the
        fields inside directive-only fragments one by one, each keeping its fragments' conditions)."""
        units = self._units(position, item)
        serving: list[set[int]] = []
        for option, *_ in options:
            child_position = self._child_position(position, item, option)
            serving.append(
                {
                    index
                    for index in range(len(units))
                    if self.plan(child_position, self.single(units, index), guard) is not None
                }
            )
        left = set(range(len(units)))
        if left - set().union(*serving):
            return None
        parts: list[Part] = []
        total = ZERO
        while left:
            best = max(range(len(options)), key=lambda i: (len(serving[i] & left), -i))
            taken = sorted(serving[best] & left)
            left -= set(taken)
            option, base, key_plan, requires_plan = options[best]
            sub_items = [units[i] for i in taken]
            child = self.plan(self._child_position(position, item, option), sub_items, guard)
            if child is None:
                return None
            parts.append(Part(option, sub_items, child, key_plan, requires_plan))
            total = total + base + child.cost.nested()
        return parts, total

    def _units(self, position: Position, item: Field) -> list[Selection]:
        """The parts a field's sub-selection may be split into (cached: the same list for the same field)."""
        cache_key = ("units:" + position.type, id(item.selections))
        found = self._objects.get(cache_key)
        if found is None:
            child_type = self.g.field_type(position.type, item.name)
            base = (
                item.selections
                if self.g.is_abstract(child_type)
                else self.object_items(child_type, item.selections)
            )
            found = [_wrapped(s, conditions) for s, conditions in _with_conditions(base, ())]
            self._objects[cache_key] = found
        return found

    def _child_position(self, position: Position, item: Field, option: Option) -> Position:
        if option.kind == "local":
            provided = self.child_provided(position, item.name, option.graph)
            child_type = self.g.subgraph_field_type(position.type, item.name, option.graph)
            return position.at(child_type, option.graph, provided)
        provides = self.g.provides(option.type, item.name, option.graph)
        child_type = self.g.subgraph_field_type(option.type, item.name, option.graph)
        return position.at(child_type, option.graph, self.g.field_set(provides) if provides else None)

    def _options(
        self, position: Position, item: Field, guard: Guard
    ) -> list[tuple[Option, Cost, Plan | None, Plan | None]]:
        """Ways to resolve the field from the position, each with its own cost (not the sub-selection's)."""
        options: list[tuple[Option, Cost, Plan | None, Plan | None]] = []
        if position.graph == ROOT:
            for graph in self.g.resolvers(position.type, item.name):
                here = frozenset({graph})
                options.append((Option("root", graph, position.type), Cost(0, here, here), None, None))
            return options
        if self._local(position, item.name):
            provided = ZERO if self._owned(position, item.name) else Cost(provided=1)
            options.append((Option("local", position.graph, position.type), provided, None, None))
        for graph, known_as in self.g.jump_targets(position.type, item.name):
            if graph == position.graph and not self._needs_inputs(known_as, item.name, graph):
                continue
            if (known_as, graph) in guard:
                continue
            jump = self._jump(position, item, graph, known_as, guard)
            if jump is not None:
                options.append(jump)
        return options

    def _needs_inputs(self, type_name: str, field_name: str, graph: str) -> bool:
        """A field with `@requires` or `@fromContext` arguments is resolved by an entity fetch even in its own
        subgraph: its inputs travel with each representation."""
        return bool(
            self.g.requires(type_name, field_name, graph)
            or self.g.context_arguments(type_name, field_name, graph)
        )

    def _owned(self, position: Position, field_name: str) -> bool:
        return self.g.resolves(position.type, field_name, position.graph, condition=position.condition)

    def _local(self, position: Position, field_name: str) -> bool:
        if position.provided is not None and field_name in self.g.provided_fields(
            position.type, position.provided
        ):
            return True
        if not self.g.resolves(position.type, field_name, position.graph, condition=position.condition):
            return False
        return not self._needs_inputs(position.type, field_name, position.graph)

    def _jump(
        self, position: Position, item: Field, graph: str, known_as: str, guard: Guard
    ) -> tuple[Option, Cost, Plan | None, Plan | None] | None:
        inner = guard | {(known_as, graph)}
        requires = self.g.requires(known_as, item.name, graph)
        requires_plan: Plan | None = None
        if requires:
            # the required fields may come from the target subgraph itself (other fields): outer guard
            requires_plan = self.condition_plan(position, requires, guard)
            if requires_plan is None:
                self._fail(position, item, f'its @requires("{requires}") cannot be resolved from here')
                return None
        best: tuple[str, Plan] | None = None
        for key in self.g.keys(known_as, graph):
            key_plan = self.condition_plan(position, key, inner)
            if key_plan is not None and (best is None or key_plan.cost.rank < best[1].cost.rank):
                best = (key, key_plan)
        if best is None:
            self._fail(
                position, item, f'no key of "{known_as}" in subgraph "{graph}" can be provided from here'
            )
            return None
        key, key_plan = best
        cost = Cost(0, frozenset({graph}), frozenset({graph})) + key_plan.cost
        if requires_plan is not None:
            cost = cost + requires_plan.cost
        return Option("jump", graph, known_as, key, requires), cost, key_plan, requires_plan

    def condition_plan(self, position: Position, field_set: str, guard: Guard) -> Plan | None:
        """How a key's or a @requires' fields are obtained at the position (overridden fields still count)."""
        items = self.g.field_set(field_set)
        return self.plan(Position(position.type, position.graph, position.provided, True), items, guard)

    def _owner(
        self, position: Position, items: list[Selection], guard: Guard
    ) -> tuple[Option, Plan, Plan] | None:
        interface = position.type
        for graph in self.g.interface_owners(interface):
            if (interface, graph) in guard:
                continue
            for key in self.g.keys(interface, graph):
                key_plan = self.condition_plan(position, key, guard | {(interface, graph)})
                if key_plan is None:
                    continue
                there = self.plan(position.at(interface, graph), items, guard | {(interface, graph)})
                if there is not None:
                    return Option("owner", graph, interface, key), key_plan, there
        return None

    def _fail(self, position: Position, item: Field, reason: str) -> None:
        self.failure = (
            f'"{position.type}.{item.name}" cannot be resolved from subgraph "{position.graph}": {reason}'
        )


def _with_conditions(items: list[Selection], conditions: Conditions) -> list[tuple[Selection, Conditions]]:
    """Fields (and typed fragments) of a level with the directive-only fragments around them."""
    out: list[tuple[Selection, Conditions]] = []
    for item in items:
        if isinstance(item, Fragment) and item.type_condition is None:
            if item.directives:
                out.extend(_with_conditions(item.selections, (*conditions, item)))
            else:
                out.extend(_with_conditions(item.selections, conditions))
        else:
            out.append((item, conditions))
    return out


def _wrapped(item: Selection, conditions: Conditions) -> Selection:
    for wrapper in reversed(conditions):
        item = Fragment(None, wrapper.directives, [item])
    return item


def _combine(alternatives: list[list[tuple[list[Part], Cost]]]) -> list[tuple[list[Part], Cost]]:
    """One alternative per field, the cheapest combination: jumps of several fields to one subgraph share a
    fetch, so choices are made together (exhaustively when few, else greedily, reusing chosen subgraphs)."""
    count = 1
    for found in alternatives:
        count *= len(found)
    if count <= MAX_COMBINATIONS:
        best: tuple[tuple[int, int, int], tuple[tuple[list[Part], Cost], ...]] | None = None
        for combination in itertools.product(*alternatives):
            total = ZERO
            for _, cost in combination:
                total = total + cost
            if best is None or total.rank < best[0]:
                best = (total.rank, combination)
        assert best is not None
        return list(best[1])
    chosen: list[tuple[list[Part], Cost]] = []
    total = ZERO
    for found in alternatives:
        pick = min(found, key=lambda alternative: (total + alternative[1]).rank)
        chosen.append(pick)
        total = total + pick[1]
    return chosen
