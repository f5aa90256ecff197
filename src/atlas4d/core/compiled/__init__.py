"""A compiled path for the commonest map queries, each answered by one statement: a page of observations
whose selection is plain fields (and plain fields of their entity), and a page of entities with plain fields
and pages of their observations.

Even with the fast executor, Python spends ~10 µs per observation turning rows into objects and objects
into JSON. Observation pages fetch only the selected columns and build the resolvers' values with a
generated function (`rows.py`, ~1 µs a row); entity pages get their JSON text from PostgreSQL
(`entities.py`). The answer is the stock executor's, exactly:

- the selection is graphql-core's own CollectFields (`plan.py`: fragments, @skip/@include, aliases, fields
  merged under one response key), and the arguments reach the same `to_domain` conversions, page sizes and
  cursors as the resolvers, so a filter means the same thing on both paths;
- a value the executor would not complete as is (a null in a non-null field, a NaN or infinite Float)
  sends the page to the stock executor over the rows already fetched (`fallback.py`), which reports the
  spec's errors and null propagation;
- the statement runs once: when it fails (a timeout, the database going away) that error is the answer,
  reported by the stock executor at the root field as the resolver would have raised it;
- anything the compiled form does not cover — other fields, several root fields, a filter that fails
  validation before any SQL — returns None and the operation runs through the resolvers.

`tests/api/test_compiled.py` has the review's cases; `tests/api/test_differential.py` compares every path
with the stock executor on random operations.
"""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import DocumentNode, ExecutionResult

from atlas4d.core.compiled.entities import entity_page
from atlas4d.core.compiled.fallback import complete
from atlas4d.core.compiled.observations import observation_page
from atlas4d.core.compiled.plan import Selection
from atlas4d.errors import Atlas4DError
from atlas4d.settings import Settings
from atlas4d.web.graphql_http import FastAnswer

log = logging.getLogger("atlas4d.compiled")
PAGES = {"observations": observation_page, "entities": entity_page}


class CompiledPages:
    """The compiled pages of one core schema (Strawberry's, for its argument conversion)."""

    def __init__(self, schema: strawberry.Schema, settings: Settings) -> None:
        self.schema = schema
        self.settings = settings

    def plan(
        self, document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None
    ) -> tuple[str, Any] | None:
        """(root response key, compiled page) when the operation fits a compiled form."""
        selection = Selection.of(self.schema, document, operation_name, variables)
        if selection is None:
            return None
        roots = selection.root()
        if roots is None or len(roots) != 1 or roots[0].name not in PAGES:
            return None
        root = roots[0]
        try:
            page = PAGES[root.name](selection, root, self.settings)
        except Atlas4DError:
            return None  # a bad argument: the resolver reports it, before any SQL
        return None if page is None else (root.key, page)

    async def answer(
        self,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: Any,
    ) -> ExecutionResult | None:
        if not self.settings.compiled_queries:
            return None
        try:
            planned = self.plan(document, operation_name, variables)
        except Exception:  # a bug here must cost speed, not the answer: the resolvers answer instead
            log.exception("request %s: compiling the page failed", getattr(context, "request_id", "-"))
            return None
        if planned is None:
            return None
        root_key, (statement, render, prefetched) = planned
        values: dict[tuple[Any, ...], Any]
        try:
            records = await statement.fetch(context.pool)
            data = render(records)
            if data is not None:
                return ExecutionResult({root_key: data}, None)
            values = prefetched(records)
        except Exception as exc:  # the statement's error is the answer, reported as the resolver's would be
            values = {(root_key,): exc}
        return await complete(self.schema._schema, document, operation_name, variables, context, values)


def compiled_answer(schema: strawberry.Schema, settings: Settings) -> FastAnswer:
    """The fast answer for core's schema: its compiled pages."""
    return CompiledPages(schema, settings).answer


__all__ = ["CompiledPages", "FastAnswer", "compiled_answer"]
