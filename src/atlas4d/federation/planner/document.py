"""The subgraph operation of each fetch, valid against the subgraph's own schema.

Two fields with one response key in sibling fragments must have the same type in GraphQL
(`... on User { id }` with `ID!` and `... on Admin { id }` with `ID` do not validate): the later ones are sent
under an alias (`id__fed_alias_1`) and the fetch carries `rewrites`, which the executor applies to the answer
before merging it, so the client's key comes back.
"""

from __future__ import annotations

import re

from graphql import DocumentNode, parse, print_ast
from graphql.language import ast

from atlas4d.federation.planner.builder import CONTEXT_VARIABLE
from atlas4d.federation.planner.fetch_graph import Group
from atlas4d.federation.planner.graph import QueryGraph
from atlas4d.federation.planner.nodes import BatchNode, FetchNode, FlattenNode, Rewrites
from atlas4d.federation.planner.operation import Operation
from atlas4d.federation.planner.selection import Field, Fragment, Selection, print_selections, variables_used

ALIAS_SUFFIX = "__fed_alias_"


def fetch_node(group: Group, operation: Operation, graph: QueryGraph, root_type: str) -> FetchNode:
    rewrites = _alias_conflicts(graph, group.graph, [("" if group.entity else root_type, group.selections)])
    contexts = {i.variable: i for i in group.context_inputs}
    used = [v for v in variables_used(group.selections) if v not in contexts]
    definitions = [
        print_ast(operation.variable_definitions[v]) for v in used if v in operation.variable_definitions
    ]
    operation_definitions = list(definitions)
    definitions += [f"${i.variable}: {i.type}" for i in group.context_inputs]
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
    template = (header, operation_definitions, print_selections(group.selections, 1)) if contexts else None
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
        rewrites=rewrites,
        context_inputs=list(group.context_inputs),
        context_template=template,
    )


def context_document(fetch: FetchNode, count: int) -> tuple[str, DocumentNode]:
    """The operation of an entity fetch with `@fromContext` inputs for `count` distinct sets of context values:
    `_i: _entities(representations: $representations_i)` with the inputs as `$<variable>_i`."""
    found = fetch.context_documents.get(count)
    if found is not None:
        return found
    assert fetch.context_template is not None
    header, operation_definitions, body = fetch.context_template
    definitions: list[str] = []
    fields: list[str] = []
    for index in range(count):
        definitions.append(f"$representations_{index}: [_Any!]!")
        definitions += [f"${i.variable}_{index}: {i.type}" for i in fetch.context_inputs]
        renamed = re.sub(rf"\$({CONTEXT_VARIABLE}\d+)\b", rf"$\1_{index}", body)
        fields.append(f"  _{index}: _entities(representations: $representations_{index}) {renamed}")
    text = (
        header + "(" + ", ".join([*definitions, *operation_definitions]) + ") {\n" + "\n".join(fields) + "\n}"
    )
    found = fetch.context_documents[count] = (text, parse(text, no_location=True))
    return found


def batch_node(members: list[FetchNode], operation: Operation) -> BatchNode:
    """One request for several entity fetches to one subgraph: `_0: _entities(representations:
    $representations_0) { … }` per fetch."""
    used: list[str] = []
    for member in members:
        used.extend(v for v in member.variable_usages if v not in used)
    definitions = [f"$representations_{i}: [_Any!]!" for i in range(len(members))]
    definitions += [
        print_ast(operation.variable_definitions[v]) for v in used if v in operation.variable_definitions
    ]
    service = members[0].service
    header = "query"
    if operation.name:
        header += f" {operation.name}__{_safe(service)}__{'_'.join(str(m.id) for m in members)}"
    header += "(" + ", ".join(definitions) + ")"
    fields = [
        f"  _{i}: _entities(representations: $representations_{i}) " + print_selections(m.body, 1)
        for i, m in enumerate(members)
    ]
    text = header + " {\n" + "\n".join(fields) + "\n}"
    return BatchNode(
        service=service,
        nodes=[FlattenNode(m.merge_at, m) for m in members],
        operation=text,
        document=parse(text, no_location=True),
        variable_usages=used,
    )


def _alias_conflicts(graph: QueryGraph, subgraph: str, sets: list[tuple[str, list[Selection]]]) -> Rewrites:
    """Alias fields that share a response key with a field of another type; `sets` are the selection lists
    (with their parent type) whose fields land in the same response objects."""
    by_key: dict[str, list[tuple[str, Field]]] = {}
    for parent, selections in sets:
        for field_parent, field in _fields(parent, selections):
            by_key.setdefault(field.response_key, []).append((field_parent, field))
    rewrites: Rewrites = {}
    for key, found in by_key.items():
        shapes: dict[str, list[tuple[str, Field]]] = {}
        for parent, field in found:
            shape = (
                "String!"
                if field.name == "__typename" or not parent
                else graph.subgraph_field_type_text(parent, field.name, subgraph)
            )
            shapes.setdefault(shape, []).append((parent, field))
        for number, members in enumerate(shapes.values()):
            sent_as = key if number == 0 else f"{key}{ALIAS_SUFFIX}{number}"
            for _, field in members:
                if number:
                    field.alias = sent_as
            children = [
                (graph.subgraph_field_type(parent, field.name, subgraph), field.selections)
                for parent, field in members
                if field.selections and parent and graph.has_field(parent, field.name)
            ]
            below = _alias_conflicts(graph, subgraph, children) if children else {}
            if number or below:
                rewrites[sent_as] = (key if number else None, below)
    return rewrites


def _fields(parent: str, selections: list[Selection]) -> list[tuple[str, Field]]:
    found: list[tuple[str, Field]] = []
    for selection in selections:
        if isinstance(selection, Field):
            found.append((parent, selection))
        elif isinstance(selection, Fragment):
            found.extend(_fields(selection.type_condition or parent, selection.selections))
    return found


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def _representations_argument() -> tuple[ast.ArgumentNode, ...]:
    return (
        ast.ArgumentNode(
            name=ast.NameNode(value="representations"),
            value=ast.VariableNode(name=ast.NameNode(value="representations")),
        ),
    )
