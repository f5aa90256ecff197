"""The fetch dependency graph: fetches (groups) and which others each one needs first.

A group is one request to one subgraph: a root fetch, or an `_entities` fetch merged at a response path. A group
depends on every group that writes what its representations read (keys, `@requires` inputs) and on the group
whose objects it extends. Groups to the same subgraph at the same path merge when that creates no cycle and
their representations agree (two `@requires` needing one field with different arguments cannot share one
representation: they stay two fetches). `schedule` turns the graph into `Sequence`/`Parallel` nodes: a fetch runs
after all of its dependencies and as early as they allow, the way Apollo's query planner walks its graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from atlas4d.federation.planner.nodes import (
    ContextInput,
    ParallelNode,
    PlanNode,
    Representation,
    SequenceNode,
)
from atlas4d.federation.planner.selection import Field, Selection, merge_selections


@dataclass
class Group:
    """A fetch under construction."""

    id: int
    graph: str
    entity: bool
    merge_at: tuple[str, ...]
    depends: set[int]
    conditions: str = ""  # the @skip/@include around it, printed: groups under different ones stay apart
    selections: list[Selection] = field(default_factory=list)
    representations: dict[str, Representation] = field(default_factory=dict)
    context_inputs: list[ContextInput] = field(default_factory=list)


class FetchGraph:
    def __init__(self) -> None:
        self.groups: list[Group] = []

    def _new(
        self, graph: str, entity: bool, path: tuple[str, ...], depends: set[int], conditions: str
    ) -> Group:
        group = Group(len(self.groups), graph, entity, path, set(depends), conditions)
        self.groups.append(group)
        return group

    def root_group(self, graph: str, *, sequential: bool) -> Group:
        """Query root fields of one subgraph share a fetch; mutation fields run in order, consecutive fields of
        one subgraph sharing a fetch when nothing else ran in between."""
        if not sequential:
            for group in self.groups:
                if not group.entity and group.graph == graph:
                    return group
            return self._new(graph, False, (), set(), "")
        last = self.groups[-1] if self.groups else None
        if (
            last is not None
            and not last.entity
            and last.graph == graph
            and all(g is last or g.id in last.depends for g in self.groups)
        ):
            return last
        return self._new(graph, False, (), {g.id for g in self.groups}, "")

    def entity_group(
        self,
        graph: str,
        path: tuple[str, ...],
        depends: set[int],
        conditions: str,
        typename: str,
        representation: list[Selection],
    ) -> Group:
        for group in self.groups:
            if (
                group.entity
                and group.graph == graph
                and group.merge_at == path
                and group.conditions == conditions
                and not any(self.depends_on(d, group.id) for d in depends)
                and _compatible(group.representations.get(typename), representation)
            ):
                group.depends |= depends
                return group
        return self._new(graph, True, path, depends, conditions)

    def depends_on(self, group_id: int, other: int) -> bool:
        """Whether `group_id` is `other` or runs after it (directly or through other groups)."""
        seen: set[int] = set()
        pending = [group_id]
        while pending:
            current = pending.pop()
            if current == other:
                return True
            if current in seen:
                continue
            seen.add(current)
            pending.extend(self.groups[current].depends)
        return False

    def schedule(self, wrap: Callable[[list[Group]], PlanNode]) -> PlanNode | None:
        """Sequence/Parallel from the dependencies: each group after all it depends on; a group's dependants
        that need nothing else follow it in its own branch, the others wait until their last dependency ran.
        Entity groups of one subgraph that become ready together are one unit (`wrap` makes them one request)."""
        groups = [g for g in self.groups if g.selections]
        live = {g.id for g in groups}
        deps = {g.id: {self._live_dependency(d, live) for d in g.depends} - {None, g.id} for g in groups}
        children: dict[int, list[int]] = {g.id: [] for g in groups}
        for group in groups:
            for dep in deps[group.id]:
                assert dep is not None
                children[dep].append(group.id)
        by_id = {g.id: g for g in groups}

        def batch(ready: list[int], before: set[int]) -> tuple[PlanNode, set[int], set[int]]:
            nodes: list[PlanNode] = []
            done: set[int] = set()
            waiting: set[int] = set()
            units: dict[object, list[int]] = {}
            for group_id in ready:
                group = by_id[group_id]
                batchable = group.entity and not group.context_inputs  # those send several _entities already
                units.setdefault(group.graph if batchable else group_id, []).append(group_id)
            for unit in units.values():
                node, ran, still = branch(unit, before)
                nodes.append(node)
                done |= ran
                waiting |= still
            return _parallel(nodes), done, waiting - done

        def branch(unit: list[int], before: set[int]) -> tuple[PlanNode, set[int], set[int]]:
            after = before | set(unit)
            steps = [wrap([by_id[g] for g in unit])]
            done = set(unit)
            waiting = {child for g in unit for child in children[g]} - done
            while True:
                ready = sorted(g for g in waiting if deps[g] <= after)
                if not ready:
                    break
                waiting -= set(ready)
                node, ran, still = batch(ready, after)
                steps.append(node)
                done |= ran
                after |= ran
                waiting = (waiting | still) - done
            return _sequence(steps), done, waiting

        steps: list[PlanNode] = []
        before: set[int] = set()
        waiting = {g.id for g in groups}
        while waiting:
            ready = sorted(g for g in waiting if deps[g] <= before)
            if not ready:
                raise AssertionError("cycle in the fetch dependency graph")
            node, ran, _ = batch(ready, before)
            steps.append(node)
            before |= ran
            waiting -= before
        if not steps:
            return None
        return _sequence(steps)

    def _live_dependency(self, group_id: int, live: set[int]) -> int | None:
        """A dependency on a group that ended up empty is a dependency on what that group depended on; the
        nearest non-empty ancestor stands for it (empty groups are not fetched)."""
        if group_id in live:
            return group_id
        for dep in self.groups[group_id].depends:
            found = self._live_dependency(dep, live)
            if found is not None:
                return found
        return None


def _compatible(existing: Representation | None, selections: list[Selection]) -> bool:
    """One representation carries each field once: a field needed with two argument sets (or two different
    sub-selections shapes of the same name) cannot share it."""
    if existing is None:
        return True
    fields = {s.name: s.signature_without_alias() for s in existing.selections if isinstance(s, Field)}
    return all(
        fields.get(s.name, s.signature_without_alias()) == s.signature_without_alias()
        for s in selections
        if isinstance(s, Field)
    )


def add_representation(
    group: Group, typename: str, sent_as: str, keys: list[Selection], selections: list[Selection]
) -> None:
    representation = group.representations.setdefault(typename, Representation(sent_as))
    representation.keys.update(s.response_key for s in keys if isinstance(s, Field))
    merge_selections(representation.selections, selections)


def _parallel(nodes: list[PlanNode]) -> PlanNode:
    flat: list[PlanNode] = []
    for node in nodes:
        flat.extend(node.nodes if isinstance(node, ParallelNode) else [node])
    return flat[0] if len(flat) == 1 else ParallelNode(flat)


def _sequence(nodes: list[PlanNode]) -> PlanNode:
    flat: list[PlanNode] = []
    for node in nodes:
        flat.extend(node.nodes if isinstance(node, SequenceNode) else [node])
    return flat[0] if len(flat) == 1 else SequenceNode(flat)
