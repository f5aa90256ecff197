"""Federation query planner.

Hand-written: no maintained Python federation query planner exists (Apollo's planners are TypeScript and Rust),
so this one reads Apollo's supergraph format directly and produces plans of the same shape (Fetch, Flatten,
Sequence, Parallel). `QueryPlanner.plan` caches plans by normalised document and operation name.
"""

from __future__ import annotations

from collections import OrderedDict

from graphql import DocumentNode, parse, print_ast
from graphql.language import ast

from atlas4d.federation.planner.builder import Group, PlanBuilder
from atlas4d.federation.planner.nodes import (
    FetchNode,
    FlattenNode,
    ParallelNode,
    PlanNode,
    QueryPlan,
    Representation,
    SequenceNode,
)
from atlas4d.federation.planner.operation import Operation, read_operation
from atlas4d.federation.planner.selection import Field, Selection, print_selections, variables_used
from atlas4d.federation.supergraph import Supergraph

__all__ = [
    "FetchNode",
    "FlattenNode",
    "ParallelNode",
    "QueryPlan",
    "QueryPlanner",
    "Representation",
    "SequenceNode",
]


class QueryPlanner:
    """Plans operations over one supergraph; thread-safe enough for asyncio (no awaits inside)."""

    def __init__(self, supergraph: Supergraph, cache_size: int = 512) -> None:
        self.supergraph = supergraph
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str | None], QueryPlan] = OrderedDict()

    def plan(self, document: DocumentNode | str, operation_name: str | None = None) -> QueryPlan:
        if isinstance(document, str):
            document = parse(document, no_location=True)
        key = (print_ast(document), operation_name)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        plan = self._build(read_operation(document, operation_name))
        self._cache[key] = plan
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return plan

    @property
    def cache_info(self) -> int:
        return len(self._cache)

    def _build(self, operation: Operation) -> QueryPlan:
        groups = [g for g in PlanBuilder(self.supergraph, operation).build() if g.selections]
        fetches = {g.id: _fetch_node(g, operation) for g in groups}
        ids = {g.id for g in groups}
        if all(len(g.depends & ids) <= 1 for g in groups) and operation.kind != "mutation":
            node = _tree(groups, fetches, ids)
        else:
            node = _stages(groups, fetches)
        return QueryPlan(
            node=node,
            fetches=list(fetches.values()),
            operation=operation,
            introspection=operation.introspection,
        )


def _wrap(fetch: FetchNode) -> PlanNode:
    return FlattenNode(fetch.merge_at, fetch) if fetch.entity else fetch


def _tree(groups: list[Group], fetches: dict[int, FetchNode], ids: set[int]) -> PlanNode | None:
    """Each fetch depends on at most one other: nest children under their parent, siblings in parallel."""
    children: dict[int | None, list[Group]] = {}
    for group in groups:
        parent = next(iter(group.depends & ids), None)
        children.setdefault(parent, []).append(group)

    def build(group: Group) -> PlanNode:
        below = [build(child) for child in children.get(group.id, [])]
        if not below:
            return _wrap(fetches[group.id])
        return SequenceNode([_wrap(fetches[group.id]), below[0] if len(below) == 1 else ParallelNode(below)])

    roots = [build(g) for g in children.get(None, [])]
    if not roots:
        return None
    return roots[0] if len(roots) == 1 else ParallelNode(roots)


def _stages(groups: list[Group], fetches: dict[int, FetchNode]) -> PlanNode | None:
    """General dependencies (@requires, mutations): one parallel step per dependency depth."""
    stage: dict[int, int] = {}
    for group in groups:  # groups are created after the groups they depend on
        deps = [stage[d] for d in group.depends if d in stage]
        stage[group.id] = 1 + max(deps) if deps else 0
    stages: list[list[PlanNode]] = []
    for group in groups:
        while len(stages) <= stage[group.id]:
            stages.append([])
        stages[stage[group.id]].append(_wrap(fetches[group.id]))
    steps: list[PlanNode] = [s[0] if len(s) == 1 else ParallelNode(s) for s in stages if s]
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else SequenceNode(steps)


def _fetch_node(group: Group, operation: Operation) -> FetchNode:
    used = variables_used(group.selections)
    definitions = [
        print_ast(operation.variable_definitions[v]) for v in used if v in operation.variable_definitions
    ]
    if group.entity:
        definitions.insert(0, "$representations: [_Any!]!")
        body: list[Selection] = [
            Field("_entities", None, _representations_argument(), (), group.selections, False)
        ]
        kind = "query"
    else:
        body = group.selections
        kind = operation.kind
    header = kind
    if operation.name:
        header += f" {operation.name}__{_safe(group.graph)}__{group.id}"
    if definitions:
        header += "(" + ", ".join(definitions) + ")"
    text = header + " " + print_selections(body)
    return FetchNode(
        id=group.id,
        service=group.graph,
        operation=text,
        document=parse(text, no_location=True),
        operation_kind=kind,
        variable_usages=used,
        entity=group.entity,
        merge_at=group.merge_at,
        representations=group.representations,
        body=group.selections,
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def _representations_argument() -> tuple[ast.ArgumentNode, ...]:
    return (
        ast.ArgumentNode(
            name=ast.NameNode(value="representations"),
            value=ast.VariableNode(name=ast.NameNode(value="representations")),
        ),
    )
