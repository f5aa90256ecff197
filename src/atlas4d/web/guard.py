"""Every limit on a GraphQL request that is checked before anything runs: the document's shape (before
validation, whose field-merging rule is quadratic), the variables (list lengths, nesting, total size) and the operation's estimated cost. Each refusal is an `Atlas4DError` with its code; nothing has
touched the database yet, and every check is linear in the request's size.

`OperationGuard.max_cost` is the hook for per-principal limits: it gets the request, so a caller that knows
the principal (roles, API key) can return that principal's limit instead of the setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from graphql import DocumentNode, GraphQLSchema
from starlette.requests import Request

from atlas4d.errors import Atlas4DError, BadInput, BatchTooLarge, QueryTooComplex
from atlas4d.settings import Settings
from atlas4d.web.cost import CostAnalyzer
from atlas4d.web.cost_model import CostModel
from atlas4d.web.shape import measure

# graphql-core's field-merging rule spent 1.5-3 CPU-µs per unit of `merge_work` on documents built to stress it
# (many copies of a field, many fragments side by side; tests/security/test_shape_and_cost.py): this bounds it
# to ~25 ms. No documented query exceeds 10.
MAX_MERGE_WORK = 8_000
# Operations without variables whose estimated cost is remembered (per parsed document, which the endpoint's
# document cache hands back as the same object for the same text); the whole table is dropped when it fills.
COST_CACHE_SIZE = 1024


class OperationGuard:
    def __init__(
        self,
        schema: GraphQLSchema,
        settings: Settings,
        cost_model: CostModel | None = None,
        *,
        clamp_to_page_size: bool = True,
    ) -> None:
        self.settings = settings
        self.analyzer = CostAnalyzer(
            schema,
            cost_model,
            default_list_size=settings.default_page_size,
            max_list_size=settings.max_page_size if clamp_to_page_size else None,
        )
        self.max_cost: Callable[[Request | None], int] = lambda _request: settings.max_cost
        # (id(document), operation name) -> (document, cost). Only the cost is cached, never the decision:
        # the limit is the principal's, looked up per request. The entry holds the document, so its id is not
        # reused while the entry lives, and a hit is checked by identity.
        self._costs: dict[tuple[int, str | None], tuple[DocumentNode, int]] = {}

    def check_document(self, document: DocumentNode) -> Atlas4DError | None:
        """Schema-free limits on a parsed document; run before validation."""
        s = self.settings
        shape = measure(document)
        if shape.depth > s.max_query_depth:
            return QueryTooComplex(
                f"selection depth is {shape.depth}; the limit is {s.max_query_depth}",
                maximum=s.max_query_depth,
            )
        if shape.aliases > s.max_aliases:
            return QueryTooComplex(
                f"{_count(shape.aliases)} aliases; the limit is {s.max_aliases}", maximum=s.max_aliases
            )
        if shape.fields > s.max_fields:
            return QueryTooComplex(
                f"the document selects {_count(shape.fields)} fields once its fragments are expanded; "
                f"the limit is {s.max_fields}",
                maximum=s.max_fields,
            )
        if shape.merge_work > MAX_MERGE_WORK:
            return QueryTooComplex(
                "the document repeats fields or spreads many fragments side by side in one selection set "
                f"({_count(shape.merge_work)} comparisons to validate it; the limit is {MAX_MERGE_WORK}): "
                "select each field once, or use aliases",
                maximum=MAX_MERGE_WORK,
            )
        return None

    def check_request(
        self,
        request: Request | None,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> Atlas4DError | None:
        """Limits that depend on the variables: their size, then the operation's cost."""
        if variables:
            problem = check_input(variables, self.settings)
            if problem is not None:
                return problem
        limit = self.max_cost(request)
        cost = self.cost(document, operation_name, variables)
        if cost > limit:
            return QueryTooComplex(
                f"the operation's estimated cost is {_count(cost)}; the limit is {limit}. Ask for smaller "
                "pages (`first`, `limit`) or fewer nested lists",
                cost=cost,
                maximum=limit,
            )
        return None

    def cost(
        self, document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> int:
        """The operation's estimated cost; remembered per document when there are no variables (a variable
        can set a page size, so an operation with variables is costed each time)."""
        if variables:
            return self.analyzer.cost(document, operation_name, variables)
        key = (id(document), operation_name)
        hit = self._costs.get(key)
        if hit is not None and hit[0] is document:
            return hit[1]
        cost = self.analyzer.cost(document, operation_name, variables)
        if len(self._costs) >= COST_CACHE_SIZE:
            self._costs.clear()
        self._costs[key] = (document, cost)
        return cost


def check_input(value: Any, settings: Settings) -> Atlas4DError | None:
    """Walk JSON input once (no recursion): list lengths, nesting depth, total values. (NUL characters are
    left to the resolvers, which name the item and field at fault.)"""
    max_items, max_depth, max_values = (
        settings.max_list_items,
        settings.max_input_depth,
        settings.max_input_values,
    )
    total = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, list):
            items: Any = current
            if len(current) > max_items:
                return BatchTooLarge(
                    f"a list in the variables has {len(current):,} items; the most is {max_items:,}",
                    maximum=max_items,
                )
        elif isinstance(current, dict):
            items = current.values()
        else:
            continue
        if depth >= max_depth:
            return BadInput(f"the variables nest deeper than {max_depth} levels", maximum=max_depth)
        total += len(current)
        if total > max_values:
            return BatchTooLarge(
                f"the variables hold more than {max_values:,} values; split the request", maximum=max_values
            )
        pending.extend((item, depth + 1) for item in items if isinstance(item, list | dict))
    return None


_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def without_suggestions(errors: Any) -> None:
    """Drop "Did you mean …?" from error messages in place (production: they reveal the schema)."""
    for error in errors if isinstance(errors, list) else ():
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str) and "Did you mean" in message:
            error["message"] = _SUGGESTION.sub("", message)


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**12 else "more than 10^12"
