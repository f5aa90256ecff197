"""Federation query planner: a query graph, a cost-based choice of paths, a fetch dependency graph.

Hand-written: no maintained Python federation query planner exists (Apollo's planners are TypeScript and Rust,
Hive Router's is Rust), so this one reads Apollo's supergraph format directly and produces plans of the same
shape (Fetch, Flatten, Sequence, Parallel), printed by `atlas4d plan` as Apollo prints them.

How it works (`graph.py`, `decide.py`, `builder.py`, `fetch_graph.py`, `document.py`):
1. The **query graph** (`QueryGraph`) has a vertex per type per subgraph and edges for fields, keys
   (`resolvable` ones, with the key's fields as the condition), `@requires` (a condition on the field),
   `@interfaceObject` (to and from the interface) and downcasts to the object types each subgraph can return.
2. The **chooser** finds, for every selection, the cheapest way through that graph from where its parent is:
   stay (the subgraph resolves it, or an enclosing `@provides` provides it), or jump by a key to a subgraph that
   does — the key's and `@requires`' fields being planned from the same place, recursively, so multi-hop paths
   and keys the current subgraph lacks come out of the same search. A field no single option serves whole has
   its sub-selection split between options; a field no option serves is refused at planning with the reason.
   Cost: fewest fetches (jumps to one subgraph at one path share a fetch), then fewest subgraphs; ties keep
   local and provided fields where they are, then the supergraph's subgraph order.
3. The **builder** turns the choices into a **fetch dependency graph**: each fetch knows the fetches whose data
   its representations read (keys, `@requires` inputs). Fetches to one subgraph at one path merge when that
   creates no cycle and their representations agree; `Sequence`/`Parallel` come from the dependencies, each
   fetch running as soon as all of its inputs are there.
4. **Documents**: each fetch's operation, with fields that share a response key but not a type aliased (and
   renamed back by the executor).

What differs from Apollo's `@apollo/query-planner` and Hive Router: both enumerate a path per leaf field
through the query graph and search the combinations of those paths (Apollo with pruning and a plan limit, Hive
with branch and bound), then optimise the resulting fetch graph. Ours decides level by level — the options of
the sibling fields of one object are chosen together (exhaustively when there are few combinations, greedily
beyond), each subtree costed once per position and memoised — which bounds planning time in Python at the price
of not trading a choice in one branch against another branch's. `@defer`, `@stream`, subscriptions and
`Condition` nodes are not produced (`@skip`/`@include` travel with the fields to each fetch and the executor
skips a fetch whose every field they leave out). Plans are cached by normalised document and operation name.
"""

from __future__ import annotations

from graphql import DocumentNode, parse, print_ast

from atlas4d.federation.planner.builder import PlanBuilder
from atlas4d.federation.planner.document import batch_node, fetch_node
from atlas4d.federation.planner.fetch_graph import Group
from atlas4d.federation.planner.graph import QueryGraph
from atlas4d.federation.planner.nodes import (
    BatchNode,
    FetchNode,
    FlattenNode,
    ParallelNode,
    PlanNode,
    QueryPlan,
    Representation,
    SequenceNode,
)
from atlas4d.federation.planner.operation import Operation, read_operation
from atlas4d.federation.supergraph import Supergraph
from atlas4d.web.byte_cache import DEFAULT_BUDGET, ByteLRU

__all__ = [
    "BatchNode",
    "FetchNode",
    "FlattenNode",
    "ParallelNode",
    "PlanNode",
    "QueryPlan",
    "QueryPlanner",
    "Representation",
    "SequenceNode",
]


class QueryPlanner:
    """Plans operations over one supergraph; thread-safe enough for asyncio (no awaits inside)."""

    def __init__(self, supergraph: Supergraph, cache_size: int = 512) -> None:
        self.supergraph = supergraph
        self.graph = QueryGraph(supergraph)
        self.cache_size = cache_size
        # bounded in bytes too (web/byte_cache.py): the printed key of a document with a 5 MB string is 5 MB
        self._cache: ByteLRU[tuple[str, str | None, frozenset[str]], QueryPlan] = ByteLRU(
            DEFAULT_BUDGET, cache_size
        )
        # progressive @override(label:): every label of the supergraph, and a query graph per set switched on
        self.override_labels = frozenset(
            join.override_label
            for joins in supergraph.field_joins.values()
            for join in joins
            if join.override_label is not None
        )
        self._graphs: dict[frozenset[str], QueryGraph] = {frozenset(): self.graph}

    def plan(
        self,
        document: DocumentNode | str,
        operation_name: str | None = None,
        override_labels: frozenset[str] = frozenset(),
    ) -> QueryPlan:
        """The plan of the operation; `override_labels`: the progressive-override labels switched on for this
        request (a field overridden under a label is served by its new subgraph only while the label is on)."""
        if isinstance(document, str):
            document = parse(document, no_location=True)
        labels = override_labels & self.override_labels
        key = (print_ast(document), operation_name, labels)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        graph = self._graphs.get(labels)
        if graph is None:
            graph = self._graphs[labels] = QueryGraph(self.supergraph, labels)
        plan = self._build(read_operation(document, operation_name), graph)
        self._cache.put(key, plan, 4 * len(key[0]))  # the plan's subgraph operations are about the key's size
        return plan

    @property
    def cache_info(self) -> int:
        return len(self._cache)

    def _build(self, operation: Operation, query_graph: QueryGraph) -> QueryPlan:
        builder = PlanBuilder(query_graph, operation)
        graph = builder.build()
        root_type = builder.root_type
        fetches: dict[int, FetchNode] = {}
        for group in graph.groups:
            if group.selections:
                fetches[group.id] = fetch_node(group, operation, query_graph, root_type)

        def wrap(groups: list[Group]) -> PlanNode:
            members = [fetches[g.id] for g in groups]
            if len(members) > 1:
                return batch_node(members, operation)
            fetch = members[0]
            return FlattenNode(fetch.merge_at, fetch) if fetch.entity else fetch

        return QueryPlan(
            node=graph.schedule(wrap),
            fetches=list(fetches.values()),
            operation=operation,
            introspection=operation.introspection,
        )
