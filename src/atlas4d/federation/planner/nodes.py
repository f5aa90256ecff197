"""Query plan nodes (Fetch, Flatten, Sequence, Parallel) and their text and JSON renderings.

The shapes follow Apollo's query plans, so a plan printed by `atlas4d plan` reads like one printed by Apollo's
tools: a `Fetch` names its subgraph and operation, a `Flatten` says where in the response entity results land.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode

from atlas4d.federation.planner.operation import Operation
from atlas4d.federation.planner.selection import Field, Fragment, Selection, print_selections


@dataclass
class Representation:
    """How to build `_entities` representations from objects whose `__typename` is a given type."""

    typename: str  # the __typename sent (the interface name for an @interfaceObject subgraph)
    selections: list[Selection] = field(default_factory=list)
    # Response keys of key fields: an object missing one (null, or its fetch failed) is not sent.
    keys: set[str] = field(default_factory=set)
    # the executor's compiled form (executor._flat), made once per cached plan: () when it does not apply
    flat: tuple[tuple[str, str, bool], ...] | None = field(default=None, compare=False, repr=False)


@dataclass(eq=False)
class ContextInput:
    """A `@fromContext` argument of a fetch's field: its value is read, per object, from the object's nearest
    ancestor that sets the context (the first `depth` steps of the object's path), selecting `selections` there;
    the fetch's operation passes it as `$variable`."""

    variable: str
    type: str
    depth: int
    selections: list[Selection]


# Response keys a fetch sent under an alias (fields of one name with different types): fetched key -> (the
# client's key, or None when only something below is renamed; the same for the value's fields).
Rewrites = dict[str, tuple[str | None, "Rewrites"]]


@dataclass
class FetchNode:
    id: int
    service: str
    operation: str
    document: DocumentNode
    operation_kind: str
    variable_usages: list[str]
    entity: bool = False
    merge_at: tuple[str, ...] = ()
    representations: dict[str, Representation] = field(default_factory=dict)
    body: list[Selection] = field(default_factory=list)
    rewrites: Rewrites = field(default_factory=dict)
    context_inputs: list[ContextInput] = field(default_factory=list)
    # (operation header, the operation's variable definitions, the `_entities` body) to make those from
    context_template: tuple[str, list[str], str] | None = None
    # operations for N distinct context values (one aliased `_entities` per value set), made when first needed
    context_documents: dict[int, tuple[str, DocumentNode]] = field(default_factory=dict)
    # whether a selection of `body` has directives (executor._conditional), made once per cached plan
    conditional: bool | None = field(default=None, compare=False, repr=False)


@dataclass
class FlattenNode:
    path: tuple[str, ...]
    node: FetchNode


@dataclass
class BatchNode:
    """Entity fetches to one subgraph that become ready together, sent as one request: its operation has one
    aliased `_entities` field per fetch (`_0`, `_1`, …), each with its own representations (`$representations_0`
    …). Fewer requests, and fetches whose representations cannot be merged (one field needed with two argument
    sets) still share one."""

    service: str
    nodes: list[FlattenNode]
    operation: str
    document: DocumentNode
    variable_usages: list[str]


@dataclass
class SequenceNode:
    nodes: list[PlanNode]


@dataclass
class ParallelNode:
    nodes: list[PlanNode]


PlanNode = FetchNode | FlattenNode | BatchNode | SequenceNode | ParallelNode


@dataclass
class QueryPlan:
    node: PlanNode | None
    fetches: list[FetchNode]
    operation: Operation
    # Root fields the gateway answers itself (`__schema`, `__type`), run on the API schema.
    introspection: DocumentNode | None = None

    def to_text(self) -> str:
        if self.node is None:
            return "QueryPlan {}"
        return "QueryPlan {\n" + _text(self.node, 1) + "\n}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "QueryPlan", "node": _json(self.node) if self.node is not None else None}


def _requires(fetch: FetchNode) -> list[Selection]:
    out: list[Selection] = []
    for rep in fetch.representations.values():
        out.append(Fragment(rep.typename, (), [Field("__typename"), *rep.selections]))
    return out


def _indent(text: str, level: int) -> str:
    pad = "  " * level
    return "\n".join(pad + line for line in text.splitlines())


def _text(node: PlanNode, level: int) -> str:
    pad = "  " * level
    if isinstance(node, FetchNode):
        body = print_selections(node.body)
        if node.entity:
            body = print_selections(_requires(node)) + " =>\n" + body
        return f'{pad}Fetch(service: "{node.service}") {{\n{_indent(body, level + 1)}\n{pad}}},'
    if isinstance(node, FlattenNode):
        path = ".".join(node.path)
        return f'{pad}Flatten(path: "{path}") {{\n{_text(node.node, level + 1)}\n{pad}}},'
    if isinstance(node, BatchNode):
        inner = "\n".join(_text(child, level + 1) for child in node.nodes)
        return f'{pad}Batch(service: "{node.service}") {{\n{inner}\n{pad}}},'
    label = "Sequence" if isinstance(node, SequenceNode) else "Parallel"
    inner = "\n".join(_text(child, level + 1) for child in node.nodes)
    return f"{pad}{label} {{\n{inner}\n{pad}}},"


def _selection_json(selection: Selection) -> dict[str, Any]:
    if isinstance(selection, Field):
        out: dict[str, Any] = {"kind": "Field", "name": selection.name}
        if selection.alias:
            out["alias"] = selection.alias
    else:
        out = {"kind": "InlineFragment", "typeCondition": selection.type_condition}
    if selection.selections:
        out["selections"] = [_selection_json(s) for s in selection.selections]
    return out


def _json(node: PlanNode) -> dict[str, Any]:
    if isinstance(node, FetchNode):
        out: dict[str, Any] = {
            "kind": "Fetch",
            "serviceName": node.service,
            "variableUsages": node.variable_usages,
            "operation": node.operation,
            "operationKind": node.operation_kind,
        }
        if node.entity:
            out["requires"] = [_selection_json(s) for s in _requires(node)]
        return out
    if isinstance(node, FlattenNode):
        return {"kind": "Flatten", "path": list(node.path), "node": _json(node.node)}
    if isinstance(node, BatchNode):
        return {
            "kind": "Batch",
            "serviceName": node.service,
            "variableUsages": node.variable_usages,
            "operation": node.operation,
            "nodes": [_json(child) for child in node.nodes],
        }
    kind = "Sequence" if isinstance(node, SequenceNode) else "Parallel"
    return {"kind": kind, "nodes": [_json(child) for child in node.nodes]}
