"""Directives the supergraph carries: how applications from several subgraphs merge, and the `@link`s, directive
definitions and types each feature adds to the supergraph (as @apollo/composition writes them).

Merging, per element (type, field, argument, enum value), over its subgraphs in name order: each directive once,
in the order of first appearance; repeatable ones (`@tag`, `@context`, composed repeatable directives) keep every
distinct application; `@cost` takes the largest weight; `@listSize` the largest `assumedSize`, the union of
`slicingArguments` and `sizedFields` and the conjunction of `requireOneSlicingArgument` (Apollo's strategies
for the IBM cost spec); `@authenticated`, `@requiresScopes` and `@policy` come first, in that order, scopes and
policies combined as Apollo does (the conjunction of each subgraph's disjunction of conjunctions); any other
non-repeatable directive keeps its most used application (the first on ties).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from graphql import print_ast
from graphql.language import ast

from atlas4d.federation.compose.model import ComposedDirective, SubgraphModel

REPEATABLE = frozenset({"tag", "context"})
AUTH = ("authenticated", "requiresScopes", "policy")  # merged first, in this order
AUTH_LOCATIONS = "FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"
AUTH_DIRECTIVES = {
    "authenticated": f"directive @authenticated on {AUTH_LOCATIONS}",
    "requiresScopes": f"directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on {AUTH_LOCATIONS}",
    "policy": f"directive @policy(policies: [[policy__Policy!]!]!) on {AUTH_LOCATIONS}",
}
AUTH_SCALARS = {"requiresScopes": "requiresScopes__Scope", "policy": "policy__Policy"}

TAG_DIRECTIVE = (
    "directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | "
    "ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION | SCHEMA"
)
INACCESSIBLE_DIRECTIVE = (
    "directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | "
    "ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION"
)
COST_DIRECTIVE = (
    "directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | "
    "OBJECT | SCALAR"
)
LIST_SIZE_DIRECTIVE = (
    "directive @{name}(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], "
    "requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION"
)
CONTEXT_DIRECTIVES = {
    "context": "directive @context(name: String!) repeatable on INTERFACE | OBJECT | UNION",
    "context__fromContext": (
        "directive @context__fromContext(field: context__ContextFieldValue) on ARGUMENT_DEFINITION"
    ),
}


def _argument(directive: ast.DirectiveNode, name: str) -> ast.ValueNode | None:
    return next((a.value for a in directive.arguments or () if a.name.value == name), None)


def _with(name: str, arguments: list[tuple[str, ast.ValueNode]]) -> ast.DirectiveNode:
    return ast.DirectiveNode(
        name=ast.NameNode(value=name),
        arguments=tuple(ast.ArgumentNode(name=ast.NameNode(value=n), value=v) for n, v in arguments),
    )


def _merge_cost(applications: list[ast.DirectiveNode]) -> ast.DirectiveNode:
    weights = [
        int(v.value) for d in applications if isinstance(v := _argument(d, "weight"), ast.IntValueNode)
    ]
    return (
        _with("cost", [("weight", ast.IntValueNode(value=str(max(weights))))]) if weights else applications[0]
    )


def _merge_list_size(applications: list[ast.DirectiveNode]) -> ast.DirectiveNode:
    merged: list[tuple[str, ast.ValueNode]] = []
    sizes = [
        int(v.value) for d in applications if isinstance(v := _argument(d, "assumedSize"), ast.IntValueNode)
    ]
    if sizes:
        merged.append(("assumedSize", ast.IntValueNode(value=str(max(sizes)))))
    for name in ("slicingArguments", "sizedFields"):
        lists = [v for d in applications if isinstance(v := _argument(d, name), ast.ListValueNode)]
        if lists:
            seen: dict[str, ast.ValueNode] = {}
            for value in (item for list_value in lists for item in list_value.values):
                seen.setdefault(print_ast(value), value)
            merged.append((name, ast.ListValueNode(values=tuple(seen.values()))))
    flags = [
        v.value
        for d in applications
        if isinstance(v := _argument(d, "requireOneSlicingArgument"), ast.BooleanValueNode)
    ]
    if flags:
        merged.append(("requireOneSlicingArgument", ast.BooleanValueNode(value=all(flags))))
    return _with("listSize", merged)


def _dnf(value: ast.ValueNode | None) -> list[list[str]]:
    if not isinstance(value, ast.ListValueNode):
        return []
    return [
        [v.value for v in inner.values if isinstance(v, ast.StringValueNode)]
        for inner in value.values
        if isinstance(inner, ast.ListValueNode)
    ]


def dnf_conjunction(values: list[list[list[str]]]) -> list[list[str]]:
    """Every combination of one conjunction from each disjunction, merged (Apollo's `dnfConjunction`)."""
    normalised: dict[str, list[list[str]]] = {}
    for value in values:
        value = [sorted(inner) for inner in (value or [[]])]
        value.sort(key=lambda inner: json.dumps(inner, separators=(",", ":")))
        normalised.setdefault(json.dumps(value, separators=(",", ":")), value)
    filtered = list(normalised.values())
    if not filtered:
        return []
    result = filtered[0]
    for current in filtered[1:]:
        combined: dict[str, list[str]] = {}
        for left in result:
            for right in current:
                candidate = sorted(left + [e for e in right if e not in left])
                combined.setdefault(json.dumps(candidate, separators=(",", ":")), candidate)
        kept: list[list[str]] = []
        for candidate in sorted(combined.values(), key=len):  # drop conjunctions another one implies
            if not any(set(k) <= set(candidate) for k in kept):
                kept.append(candidate)
        result = kept
    return result


def _merge_auth(name: str, applications: list[ast.DirectiveNode]) -> ast.DirectiveNode:
    argument = {"requiresScopes": "scopes", "policy": "policies"}.get(name)
    distinct = {print_ast(d): d for d in applications}
    if argument is None or len(distinct) == 1:
        return applications[0]
    merged = dnf_conjunction([_dnf(_argument(d, argument)) for d in distinct.values()])
    value = ast.ListValueNode(
        values=tuple(
            ast.ListValueNode(values=tuple(ast.StringValueNode(value=v) for v in inner)) for inner in merged
        )
    )
    return _with(name, [(argument, value)])


def merge_applications(
    per_subgraph: Iterable[Iterable[ast.DirectiveNode]], repeatable: frozenset[str] | set[str] = REPEATABLE
) -> list[ast.DirectiveNode]:
    """One element's carried directives from each of its subgraphs, merged (see the module docstring)."""
    by_name: dict[str, list[ast.DirectiveNode]] = {}
    for applications in per_subgraph:
        for directive in applications:
            by_name.setdefault(directive.name.value, []).append(directive)
    out = [_merge_auth(name, by_name.pop(name)) for name in AUTH if name in by_name]
    for name, applications in by_name.items():
        if name == "cost":
            out.append(_merge_cost(applications))
        elif name == "listSize":
            out.append(_merge_list_size(applications))
        elif name in repeatable:
            distinct: dict[str, ast.DirectiveNode] = {}
            for directive in applications:
                distinct.setdefault(print_ast(directive), directive)
            out.extend(distinct.values())
        else:
            counts: dict[str, list[ast.DirectiveNode]] = {}
            for directive in applications:
                counts.setdefault(print_ast(directive), []).append(directive)
            out.append(max(counts.values(), key=len)[0])  # max keeps the first of equal counts
    return out


def composed_directives(subgraphs: list[SubgraphModel]) -> dict[str, ComposedDirective]:
    """Every composed directive by name, as the first subgraph (by name) that composes it defines it."""
    found: dict[str, ComposedDirective] = {}
    for subgraph in subgraphs:
        for name, composed in subgraph.composed.items():
            found.setdefault(name, composed)
    return found


def join_version(subgraphs: list[SubgraphModel]) -> str:
    """The join spec version Apollo writes for these subgraphs: by the newest federation version they link."""
    newest = max((s.version or (1, 0) for s in subgraphs), default=(2, 0))
    return "v0.5" if newest >= (2, 8) else "v0.4" if newest >= (2, 7) else "v0.3"


def feature_links(used: set[str], composed: dict[str, ComposedDirective]) -> list[str]:
    """The schema's `@link`s after link and join, for the features in use, in Apollo's order."""
    links = []
    if "tag" in used:
        links.append('@link(url: "https://specs.apollo.dev/tag/v0.3")')
    if "inaccessible" in used:
        links.append('@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)')
    for name in AUTH:
        if name in used:
            links.append(f'@link(url: "https://specs.apollo.dev/{name}/v0.1", for: SECURITY)')
    if "cost" in used or "listSize" in used:
        imports = ', import: ["@listSize"]' if "listSize" in used else ""
        links.append(f'@link(url: "https://specs.apollo.dev/cost/v0.1"{imports})')
    if "context" in used:
        links.append('@link(url: "https://specs.apollo.dev/context/v0.1", for: SECURITY)')
    by_url: dict[str, list[str]] = {}
    for name, directive in composed.items():
        if name in used:
            by_url.setdefault(directive.url, []).append(f'"@{name}"')
    links += [f"@link(url: {_quoted(url)}, import: [{', '.join(names)}])" for url, names in by_url.items()]
    return links


def feature_definitions(used: set[str], composed: dict[str, ComposedDirective]) -> dict[str, str]:
    """Directive definitions (by name) the features in use add to the supergraph."""
    out: dict[str, str] = {}
    if "tag" in used:
        out["tag"] = TAG_DIRECTIVE
    if "inaccessible" in used:
        out["inaccessible"] = INACCESSIBLE_DIRECTIVE
    out.update((name, text) for name, text in AUTH_DIRECTIVES.items() if name in used)
    if "cost" in used or "listSize" in used:
        list_size = "listSize" if "listSize" in used else "cost__listSize"
        out["cost"] = COST_DIRECTIVE
        out[list_size] = LIST_SIZE_DIRECTIVE.format(name=list_size)
    if "context" in used:
        out.update(CONTEXT_DIRECTIVES)
    for name, directive in composed.items():
        if name in used:
            out[name] = print_ast(directive.definition)
    return out


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
