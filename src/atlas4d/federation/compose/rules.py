"""Composition rules checked after merging; codes are Apollo's for the same rule.

Implemented: INVALID_FIELD_SHARING, EXTERNAL_MISSING_ON_BASE, EXTERNAL_UNUSED, KEY_INVALID_FIELDS,
REQUIRES_FIELDS_MISSING_EXTERNAL,
SATISFIABILITY_ERROR (a field reachable from no subgraph that returns its type, following resolvable keys),
CONTEXT_NOT_SET, LIST_SIZE_APPLIED_TO_NON_LIST, LIST_SIZE_INVALID_SIZED_FIELD, LIST_SIZE_INVALID_SLICING_ARGUMENT,
LIST_SIZE_INVALID_ASSUMED_SIZE (per subgraph, with Apollo's messages).
"""

from __future__ import annotations

import re
from collections import deque

from graphql.language import ast

from atlas4d.federation.compose.merge import MergedType, Merger, _named
from atlas4d.federation.compose.model import SubField, SubgraphModel

NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def _top_level(field_set: str) -> list[str]:
    """Top-level field names of a field set ("sku pkg { id }" -> ["sku", "pkg"])."""
    names, depth = [], 0
    for token in re.findall(r"[{}]|[_A-Za-z][_0-9A-Za-z]*", field_set):
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
        elif depth == 0 and token != "on":
            names.append(token)
    return names


def check(merger: Merger) -> None:
    for subgraph in merger.subgraphs:
        _contexts(merger, subgraph)
        _list_sizes(merger, subgraph)
    roots = {s.roots["query"] for s in merger.subgraphs} | {s.roots["mutation"] for s in merger.subgraphs}
    for merged in merger.types.values():
        if merged.kind in ("object", "interface"):
            _keys(merger, merged)
            _external(merger, merged)
            _requires(merger, merged)
        if merged.kind == "object":
            _sharing(merger, merged)
            if merged.name not in roots:
                _satisfiable(merger, merged)


def _keys(merger: Merger, merged: MergedType) -> None:
    for graph, sub in merged.sources.items():
        for key, _ in sub.keys:
            missing = [n for n in _top_level(key) if n not in sub.fields]
            if missing:
                merger.issue(
                    "KEY_INVALID_FIELDS",
                    f'[{graph}] On type "{merged.name}", for @key(fields: "{key}"): Cannot query field '
                    f'"{missing[0]}" on type "{merged.name}" (the field must be defined in the subgraph).',
                )


def _requires(merger: Merger, merged: MergedType) -> None:
    for graph, sub in merged.sources.items():
        for sub_field in sub.fields.values():
            if not sub_field.requires:
                continue
            for name in _top_level(sub_field.requires):
                required = sub.fields.get(name)
                if required is not None and not required.external:
                    merger.issue(
                        "REQUIRES_FIELDS_MISSING_EXTERNAL",
                        f'[{graph}] On field "{merged.name}.{sub_field.name}", for @requires(fields: '
                        f'"{sub_field.requires}"): field "{merged.name}.{name}" should not be part of a @requires '
                        f"since it is already provided by this subgraph (it is not marked @external)",
                    )


def _used_field_names(merger: Merger, graph: str) -> set[str]:
    used: set[str] = set()
    for sub in merger.by_name[graph].types.values():
        for key, _ in sub.keys:
            used.update(NAME.findall(key))
        for sub_field in sub.fields.values():
            for field_set in (sub_field.requires, sub_field.provides):
                if field_set:
                    used.update(NAME.findall(field_set))
    return used


def _external(merger: Merger, merged: MergedType) -> None:
    for name, merged_field in merged.fields.items():
        externals = [g for g, f in merged_field.sources.items() if f.external]
        if not externals:
            continue
        if len(externals) == len(merged_field.sources):
            listed = ", ".join(f'"{g}"' for g in externals)
            merger.issue(
                "EXTERNAL_MISSING_ON_BASE",
                f'Field "{merged.name}.{name}" is marked @external on all the subgraphs in which it is listed '
                f"(subgraph{'s' if len(externals) > 1 else ''} {listed}).",
            )
            continue
        for graph in externals:
            if name not in _used_field_names(merger, graph) and not merged.sources[graph].external:
                merger.issue(
                    "EXTERNAL_UNUSED",
                    f'[{graph}] Field "{merged.name}.{name}" is marked @external but is not used in any '
                    f"federation directive (@key, @provides, @requires) or to satisfy an interface; the field "
                    f"declaration has no use and should be removed (or the field should not be @external).",
                )


def _resolving(merged: MergedType, name: str) -> list[str]:
    merged_field = merged.fields[name]
    return [
        g
        for g, f in merged_field.sources.items()
        if not f.external and not merged_field.overridden.get(g, False)
    ]


def _sharing(merger: Merger, merged: MergedType) -> None:
    for name in merged.fields:
        labelled = merged.fields[name].override_labels  # progressively overridden: not shared
        resolving = [g for g in _resolving(merged, name) if g not in labelled]
        if len(resolving) < 2:
            continue
        not_shareable = [
            g
            for g in resolving
            if not merged.fields[name].sources[g].shareable
            and name not in merger.by_name[g].key_fields(merged.name)
        ]
        if not_shareable:
            listed = " and ".join(f'"{g}"' for g in resolving)
            culprits = " and ".join(f'"{g}"' for g in not_shareable)
            merger.issue(
                "INVALID_FIELD_SHARING",
                f'Non-shareable field "{merged.name}.{name}" is resolved from multiple subgraphs: it is resolved '
                f"from subgraphs {listed} and defined as non-shareable in subgraph"
                f"{'s' if len(not_shareable) > 1 else ''} {culprits}",
            )


def _returns_type(merger: Merger, graph: str, type_name: str) -> bool:
    subgraph = merger.by_name[graph]
    for sub in subgraph.types.values():
        for sub_field in sub.fields.values():
            if _named(sub_field.type) == type_name and not sub_field.external:
                return True
    return False


def _satisfiable(merger: Merger, merged: MergedType) -> None:
    if len(merged.sources) < 2 or not any(sub.keys for sub in merged.sources.values()):
        return  # value types: a shared root field can be split across subgraphs, no key needed

    def reachable(start: str) -> set[str]:
        seen, queue = {start}, deque([start])
        while queue:
            current = queue.popleft()
            current_sub = merged.sources[current]
            own_keys = merger.by_name[current].key_fields(merged.name)  # provided even when @external
            for graph, sub in merged.sources.items():
                if graph in seen:
                    continue
                for key, resolvable in sub.keys:
                    if resolvable and all(
                        n in current_sub.fields and (not current_sub.fields[n].external or n in own_keys)
                        for n in _top_level(key)
                    ):
                        seen.add(graph)
                        queue.append(graph)
                        break
        return seen

    starts = [g for g in merged.sources if _returns_type(merger, g, merged.name)]
    reach = {g: reachable(g) for g in starts}
    for name in merged.fields:
        resolving = set(_resolving(merged, name))
        if not resolving:
            continue
        for start in starts:
            if not resolving & reach[start]:
                owners = ", ".join(f'"{g}"' for g in sorted(resolving))
                merger.issue(
                    "SATISFIABILITY_ERROR",
                    f'Field "{merged.name}.{name}" cannot be satisfied from subgraph "{start}": it is only '
                    f'resolved by subgraph(s) {owners}, and no resolvable @key of "{merged.name}" leads there '
                    f'from "{start}".',
                )
                return


def _contexts(merger: Merger, subgraph: SubgraphModel) -> None:
    """Every `@fromContext` names a context some type of the same subgraph sets."""
    prefix = f"{subgraph.name}__"
    set_here = {
        value.value
        for sub in subgraph.types.values()
        for directive in sub.directives
        if directive.name.value == "context"
        for argument in directive.arguments or ()
        if isinstance(value := argument.value, ast.StringValueNode)
    }
    for sub in subgraph.types.values():
        for sub_field in sub.fields.values():
            for context in sub_field.context_arguments:
                if context.context not in set_here:
                    merger.issue(
                        "CONTEXT_NOT_SET",
                        f'[{subgraph.name}] Context "{context.context.removeprefix(prefix)}" is used at location '
                        f'"{sub.name}.{sub_field.name}({context.name}:)" but is never set.',
                    )


def _is_list(type_node: ast.TypeNode) -> bool:
    inner = type_node.type if isinstance(type_node, ast.NonNullTypeNode) else type_node
    return isinstance(inner, ast.ListTypeNode)


def _strings(directive: ast.DirectiveNode, name: str) -> list[str] | None:
    value = next((a.value for a in directive.arguments or () if a.name.value == name), None)
    if not isinstance(value, ast.ListValueNode):
        return None
    return [v.value for v in value.values if isinstance(v, ast.StringValueNode)]


def _list_sizes(merger: Merger, subgraph: SubgraphModel) -> None:
    """`@listSize` where it can apply: on a list (or on an object with the `sizedFields` lists), slicing
    arguments the field has, a non-negative assumed size."""
    for sub in subgraph.types.values():
        for sub_field in sub.fields.values():
            for directive in sub_field.directives:
                if directive.name.value == "listSize":
                    _list_size(merger, subgraph, f"{sub.name}.{sub_field.name}", sub_field, directive)


def _list_size(
    merger: Merger, subgraph: SubgraphModel, where: str, sub_field: SubField, directive: ast.DirectiveNode
) -> None:
    prefix = f"[{subgraph.name}]"
    size = next((a.value for a in directive.arguments or () if a.name.value == "assumedSize"), None)
    if isinstance(size, ast.IntValueNode) and int(size.value) < 0:
        merger.issue(
            "LIST_SIZE_INVALID_ASSUMED_SIZE", f'{prefix} Assumed size of "{where}" cannot be negative'
        )
    sized = _strings(directive, "sizedFields")
    if sized is None:
        if not _is_list(sub_field.type):
            merger.issue("LIST_SIZE_APPLIED_TO_NON_LIST", f'{prefix} "{where}" is not a list')
    else:
        target = subgraph.types.get(_named(sub_field.type))
        for name in sized:
            found = target.fields.get(name) if target is not None else None
            if found is None:
                merger.issue(
                    "LIST_SIZE_INVALID_SIZED_FIELD",
                    f'{prefix} Sized field "{name}" is not a field on type "{_named(sub_field.type)}"',
                )
            elif not _is_list(found.type):
                merger.issue(
                    "LIST_SIZE_APPLIED_TO_NON_LIST",
                    f'{prefix} Sized field "{_named(sub_field.type)}.{name}" is not a list',
                )
    arguments = {a.name.value for a in sub_field.arguments}
    for name in _strings(directive, "slicingArguments") or ():
        if name not in arguments:
            merger.issue(
                "LIST_SIZE_INVALID_SLICING_ARGUMENT",
                f'{prefix} Slicing argument "{name}" is not an argument of "{where}"',
            )
