"""`_entities(representations:)` of a subgraph served over HTTP, checked before Strawberry sees it.

A representation comes from whoever calls the subgraph. Strawberry's resolver takes each one on trust: a list
item that is not an object, one without `__typename` or naming a type that is not an entity of this subgraph,
and one whose fields do not match `resolve_reference`'s arguments all ended as `INTERNAL` with a logged
traceback (issue 12). Here they are the caller's error, `BAD_USER_INPUT` naming the item, before anything runs.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLSchema, GraphQLUnionType

from atlas4d.errors import BadInput


def check_representations(schema: GraphQLSchema) -> None:
    """Wrap the schema's `_entities` resolver (in place) with the check; a schema without it is left alone."""
    query = schema.query_type
    field = query.fields.get("_entities") if query is not None else None
    union = schema.type_map.get("_Entity")
    if field is None or field.resolve is None or not isinstance(union, GraphQLUnionType):
        return
    if getattr(field.resolve, "checks_representations", False):
        return  # already wrapped (a module's schema may be served by more than one endpoint)
    entities = frozenset(t.name for t in union.types)
    resolve = field.resolve

    def checked(source: Any, info: Any, **args: Any) -> Any:
        representations = args.get("representations")
        for index, item in enumerate(representations if isinstance(representations, list) else ()):
            problem = _problem(item, entities)
            if problem is not None:
                raise BadInput(f"representations[{index}] {problem}", field="representations", index=index)
        names = [r["__typename"] for r in representations] if isinstance(representations, list) else []
        results = resolve(source, info, **args)  # (Strawberry pops `__typename` from each representation)
        if not isinstance(results, list) or len(results) != len(names):
            return results
        # resolve_reference called with fields it does not take (or without those it needs): Strawberry hands
        # the TypeError back as the item's value
        return [
            BadInput(
                f"representations[{i}] does not match the key fields of {names[i]}",
                field="representations",
                index=i,
            )
            if isinstance(r, TypeError)
            else r
            for i, r in enumerate(results)
        ]

    checked.checks_representations = True  # type: ignore[attr-defined]
    field.resolve = checked


def _problem(item: Any, entities: frozenset[str]) -> str | None:
    if not isinstance(item, dict):
        return "must be an object with `__typename` and the key fields"
    name = item.get("__typename")
    if not isinstance(name, str):
        return "has no `__typename`"
    if name not in entities:
        return f"names {name[:60]!r}, which is not an entity type of this subgraph"
    if len(item) < 2:
        return f"has no key fields of {name}"
    return None
