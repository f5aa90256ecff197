"""Authorization of a GraphQL operation, on the parsed document, before planning or execution.

Apollo Router's semantics: each field the principal may not see is removed from the document (a selection
set left empty keeps `__typename`), the rest runs, and the answer has `null` at every removed field with an
`UNAUTHORIZED_FIELD_OR_TYPE` error at its path (`@` marks a list). A removed non-null field makes its parent
null, up to the nearest nullable field, as a resolver error would.

A field needs what the policy file says (`Type.field`, or `Type` for all its fields, or the root default:
`read` for Query, `write` or `ingest` for Mutation) and what a supergraph's `@authenticated`,
`@requiresScopes` and `@policy` put on the field, on its type or on the type it returns. Decisions are cached
per document, operation and grant, so a repeated operation costs one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    NameNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    visit,
)

from atlas4d.auth.directives import Requirements
from atlas4d.auth.policy import Policy
from atlas4d.auth.principal import Principal
from atlas4d.web.byte_cache import DEFAULT_BUDGET, ByteLRU, document_weight

MESSAGE = "Unauthorized field or type"
MAX_ERRORS = 100
MAX_WALK = 20_000
CACHE_SIZE = 1024
TYPENAME = FieldNode(name=NameNode(value="__typename"))
Composite = GraphQLObjectType | GraphQLInterfaceType


@dataclass(frozen=True)
class Grant:
    authenticated: bool
    roles: frozenset[str]
    scopes: frozenset[str]
    permissions: frozenset[str]

    @classmethod
    def of(cls, p: Principal) -> Grant:
        return cls(p.authenticated, p.roles, p.scopes, p.permissions)


@dataclass
class Decision:
    document: DocumentNode
    removed: frozenset[int] = frozenset()  # ids of the original FieldNodes taken out
    errors: list[dict[str, Any]] = field(default_factory=list)
    original: DocumentNode | None = None
    operation_name: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.removed)


class OperationGuard:
    def __init__(
        self, schema: GraphQLSchema, policy: Policy, requirements: Requirements | None = None
    ) -> None:
        self.schema = schema
        self.policy = policy
        self.requirements = requirements or Requirements()
        # bounded in bytes (web/byte_cache.py): a decision keeps its document alive
        self._cache: ByteLRU[tuple[int, str | None, Grant], Decision] = ByteLRU(DEFAULT_BUDGET, CACHE_SIZE)

    # --- the check --------------------------------------------------------------------------------------
    def _alternatives_hold(self, coordinate: str, grant: Grant) -> bool:
        req = self.requirements
        if coordinate in req.authenticated and not grant.authenticated:
            return False
        for alternatives in req.scopes.get(coordinate, ()):
            if not any(s <= grant.scopes for s in alternatives):
                return False
        for alternatives in req.policies.get(coordinate, ()):
            if not any(
                all(self.policy.satisfies(p, grant.roles, grant.permissions) for p in s) for s in alternatives
            ):
                return False
        return True

    def allowed(self, parent: Composite, name: str, definition: GraphQLField, grant: Grant) -> bool:
        root = (
            "query"
            if parent is self.schema.query_type
            else "mutation"
            if parent is self.schema.mutation_type
            else None
        )
        if not self.policy.needs(parent.name, name, root) <= grant.permissions:
            return False
        if not self.requirements:
            return True
        returned = get_named_type(definition.type).name
        return all(
            self._alternatives_hold(c, grant) for c in (f"{parent.name}.{name}", parent.name, returned)
        )

    # --- the document -----------------------------------------------------------------------------------
    def decide(self, document: DocumentNode, operation_name: str | None, principal: Principal) -> Decision:
        grant = Grant.of(principal)
        key = (id(document), operation_name, grant)
        cached = self._cache.get(key)
        if cached is not None and (cached.original or cached.document) is document:
            return cached
        decision = self._decide(document, operation_name, grant)
        source = document.loc.source.body if document.loc is not None else ""
        self._cache.put(key, decision, 2 * document_weight(source, document))  # the original and the filtered
        return decision

    def _decide(self, document: DocumentNode, operation_name: str | None, grant: Grant) -> Decision:
        removed: set[int] = set()
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        definitions = []
        for d in document.definitions:
            parent: Any = None
            if isinstance(d, OperationDefinitionNode):
                parent = self.schema.get_root_type(d.operation)
            elif isinstance(d, FragmentDefinitionNode):
                parent = self.schema.get_type(d.type_condition.name.value)
            if parent is None:
                definitions.append(d)
                continue
            selection_set = getattr(d, "selection_set", None)
            assert isinstance(selection_set, SelectionSetNode)
            new = self._filter(selection_set, parent, grant, removed)
            definitions.append(d if new is selection_set else replace(d, selection_set=new))  # type: ignore[call-arg]
        if not removed:
            return Decision(document)
        filtered = _prune(replace(document, definitions=tuple(definitions)))
        decision = Decision(filtered, frozenset(removed), original=document, operation_name=operation_name)
        operation = _operation(document, operation_name)
        if operation is not None:
            root = self.schema.get_root_type(operation.operation)
            paths: list[list[str | int]] = []
            budget = [MAX_WALK]
            self._paths(operation.selection_set, root, fragments, removed, [], paths, budget)
            decision.errors = [
                {"message": MESSAGE, "path": p, "extensions": {"code": "UNAUTHORIZED_FIELD_OR_TYPE"}}
                for p in paths
            ]
        return decision

    def _filter(
        self, selection_set: SelectionSetNode, parent: Any, grant: Grant, removed: set[int]
    ) -> SelectionSetNode:
        kept: list[SelectionNode] = []
        changed = False
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                name = sel.name.value
                definition = parent.fields.get(name) if isinstance(parent, Composite) else None
                if definition is None:  # __typename, or a field of a union member checked below
                    kept.append(sel)
                    continue
                if not self.allowed(parent, name, definition, grant):
                    removed.add(id(sel))
                    changed = True
                    continue
                if sel.selection_set is not None:
                    sub = self._filter(sel.selection_set, get_named_type(definition.type), grant, removed)
                    if sub is not sel.selection_set:
                        sel, changed = replace(sel, selection_set=sub), True
                kept.append(sel)
            elif isinstance(sel, InlineFragmentNode):
                cond = self.schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                sub = self._filter(sel.selection_set, cond, grant, removed)
                if sub is not sel.selection_set:
                    sel, changed = replace(sel, selection_set=sub), True
                kept.append(sel)
            else:
                kept.append(sel)  # fragment definitions are filtered on their own
        if not changed:
            return selection_set
        return replace(selection_set, selections=tuple(kept) or (TYPENAME,))

    def _paths(
        self,
        selection_set: SelectionSetNode,
        parent: Any,
        fragments: dict[str, FragmentDefinitionNode],
        removed: set[int],
        prefix: list[str | int],
        out: list[list[str | int]],
        budget: list[int],
    ) -> None:
        for sel in selection_set.selections:
            budget[0] -= 1
            if budget[0] < 0 or len(out) >= MAX_ERRORS:
                return
            if isinstance(sel, FieldNode):
                key = sel.alias.value if sel.alias else sel.name.value
                if id(sel) in removed:
                    out.append([*prefix, key])
                    continue
                definition = parent.fields.get(sel.name.value) if isinstance(parent, Composite) else None
                if sel.selection_set is not None and definition is not None:
                    path: list[str | int] = [*prefix, key]
                    t = get_nullable_type(definition.type)
                    while isinstance(t, GraphQLList):
                        path.append("@")
                        t = get_nullable_type(t.of_type)
                    self._paths(sel.selection_set, get_named_type(t), fragments, removed, path, out, budget)
            elif isinstance(sel, InlineFragmentNode):
                cond = self.schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                self._paths(sel.selection_set, cond, fragments, removed, prefix, out, budget)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                frag = fragments[sel.name.value]
                cond = self.schema.get_type(frag.type_condition.name.value)
                self._paths(frag.selection_set, cond, fragments, removed, prefix, out, budget)

    # --- the answer -------------------------------------------------------------------------------------
    def complete(self, decision: Decision, result: dict[str, Any]) -> dict[str, Any]:
        """Null at every removed field (with null bubbling) and the authorization errors first."""
        if not decision.changed:
            return result
        assert decision.original is not None
        operation = _operation(decision.original, decision.operation_name)
        data = _plain(result.get("data"))
        if operation is not None and isinstance(data, dict):
            fragments = {
                d.name.value: d
                for d in decision.original.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            root = self.schema.get_root_type(operation.operation)
            filled = _Filler(self.schema, fragments, decision.removed).object(
                data, operation.selection_set, root
            )
            result["data"] = None if filled is _BUBBLE else filled
        out: dict[str, Any] = {"errors": [*decision.errors, *(result.get("errors") or [])]}
        out.update({k: v for k, v in result.items() if k != "errors"})
        return out


_BUBBLE = object()


def _plain(value: Any) -> Any:
    """Compiled pages may hand over JSON text PostgreSQL built (an `orjson.Fragment`); walk it as values."""
    if isinstance(value, orjson.Fragment):
        return orjson.loads(orjson.dumps(value))  # a Fragment does not expose its text
    return value


class _Filler:
    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], removed: frozenset[int]
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.removed = removed

    def _applies(self, cond_name: str | None, parent: Any, value: dict[str, Any]) -> bool:
        if cond_name is None or cond_name == parent.name:
            return True
        typename = value.get("__typename")
        concrete = self.schema.get_type(typename) if isinstance(typename, str) else parent
        cond = self.schema.get_type(cond_name)
        if not isinstance(concrete, GraphQLObjectType) or cond is None:
            return False
        if isinstance(cond, GraphQLInterfaceType | GraphQLUnionType):
            return self.schema.is_sub_type(cond, concrete)
        return concrete is cond

    def _fields(
        self, selection_set: SelectionSetNode, parent: Any, value: dict[str, Any]
    ) -> Iterable[FieldNode]:
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                yield sel
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition.name.value if sel.type_condition else None
                if self._applies(cond, parent, value):
                    yield from self._fields(sel.selection_set, parent, value)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in self.fragments:
                frag = self.fragments[sel.name.value]
                if self._applies(frag.type_condition.name.value, parent, value):
                    yield from self._fields(frag.selection_set, parent, value)

    def object(self, value: dict[str, Any], selection_set: SelectionSetNode, parent: Any) -> Any:
        out: dict[str, Any] = {}
        concrete = (
            self.schema.get_type(value["__typename"]) if isinstance(value.get("__typename"), str) else parent
        )
        for node in self._fields(selection_set, parent, value):
            key = node.alias.value if node.alias else node.name.value
            fields = getattr(concrete, "fields", None) or getattr(parent, "fields", {})
            definition = fields.get(node.name.value)
            if id(node) in self.removed:
                if definition is not None and isinstance(definition.type, GraphQLNonNull):
                    return _BUBBLE
                out[key] = None
                continue
            if key in out or key not in value:
                continue
            item = value[key]
            if node.selection_set is not None and definition is not None and item is not None:
                item = self.value(item, node.selection_set, definition.type)
                if item is _BUBBLE:
                    if isinstance(definition.type, GraphQLNonNull):
                        return _BUBBLE
                    item = None
            out[key] = item
        for key, item in value.items():  # keys we did not walk (e.g. a fragment we could not match)
            out.setdefault(key, item)
        return out

    def value(self, item: Any, selection_set: SelectionSetNode, type_: Any) -> Any:
        item = _plain(item)
        nullable = get_nullable_type(type_)
        if isinstance(nullable, GraphQLList):
            if not isinstance(item, list):
                return item
            out: list[Any] = []
            for element in item:
                if element is None:
                    out.append(None)
                    continue
                done = self.value(element, selection_set, nullable.of_type)
                if done is _BUBBLE:
                    if isinstance(nullable.of_type, GraphQLNonNull):
                        return _BUBBLE
                    done = None
                out.append(done)
            return out
        if isinstance(item, dict):
            return self.object(item, selection_set, get_named_type(nullable))
        return item


class _Uses(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.variables: set[str] = set()
        self.fragments: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.variables.add(node.name.value)

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
        self.fragments.add(node.name.value)


def _uses(node: Any) -> _Uses:
    uses = _Uses()
    visit(node, uses)
    return uses


def _prune(document: DocumentNode) -> DocumentNode:
    """Drop the fragments and variable definitions that removed fields alone used (a document with an unused
    fragment or variable is invalid, and the gateway validates the filtered text again)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    fragment_uses = {name: _uses(f.selection_set) for name, f in fragments.items()}
    reachable: set[str] = set()
    definitions: list[Any] = []
    for d in document.definitions:
        if not isinstance(d, OperationDefinitionNode):
            continue
        uses = _uses(d.selection_set)
        variables, pending, seen = set(uses.variables), list(uses.fragments), set()
        while pending:
            name = pending.pop()
            if name in seen or name not in fragment_uses:
                continue
            seen.add(name)
            variables |= fragment_uses[name].variables
            pending.extend(fragment_uses[name].fragments)
        reachable |= seen
        kept = tuple(v for v in d.variable_definitions or () if v.variable.name.value in variables)
        definitions.append(
            d if len(kept) == len(d.variable_definitions or ()) else replace(d, variable_definitions=kept)
        )
    for d in document.definitions:
        if isinstance(d, FragmentDefinitionNode) and d.name.value in reachable:
            definitions.append(d)
    return replace(document, definitions=tuple(definitions))


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode) and (
            name is None or (d.name is not None and d.name.value == name)
        ):
            return d
    return None
