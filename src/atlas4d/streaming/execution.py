"""Executing a subscription's selection set for each event: once per *live operation* (subscribers with the
same document, operation and variables of the selection set — filters may differ), not once per subscriber.

graphql-core 3.3.2 grows without bound when one subscription executes many events: per-event executors
(`Executor.build_per_event_executor`) share the parent's subfield memo `_relevant_sub_fields`, keyed by
`(return_type, id(field_details_list))`, and the root fields' `field_details_list` is collected anew for
every event, so each event adds a chain of entries (and keeps their lists alive). 3.3.0 had no such memo.
We **bypass** it rather than pin 3.3.0 (3.3.2 carries fixes we rely on) or patch graphql-core in place:
`LiveExecutor` keys the memo by the field *nodes* of the document, which are the same objects for every event
of an operation, so the memo holds one entry per selection of the document, however many events run
(tests/streaming/test_memory.py counts the entries and measures RSS). The fast executor's per-grouped-set plan
memo is skipped for the root type for the same reason. The upstream report is in docs/streaming.md.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    OperationDefinitionNode,
    VariableNode,
    get_operation_ast,
    visit,
)
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetailsList,
    GroupedFieldSet,
    collect_subfields,
)
from graphql.execution.executor import Executor
from graphql.language import Visitor

from atlas4d.web.errors import format_graphql_error
from atlas4d.web.fast_executor import FastExecutor, Plain


class LiveExecutor(FastExecutor):
    """FastExecutor whose memos stay bounded over any number of subscription events (see module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._live_sub_fields: dict[
            tuple[GraphQLObjectType, int | tuple[int, ...]], tuple[FieldDetailsList, CollectedFields]
        ] = {}

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CollectedFields:
        # one field node (the common case) keys by its id alone: this runs for every object of every event
        key = (
            (return_type, id(field_details_list[0].node))
            if len(field_details_list) == 1
            else (return_type, tuple(id(d.node) for d in field_details_list))
        )
        cached = self._live_sub_fields.get(key)
        if cached is not None:
            return cached[1]
        collected = collect_subfields(
            self.schema,
            self.fragments,
            self.variable_values,
            self.operation,
            return_type,
            field_details_list,
            self.hide_suggestions,
        )
        # the nodes are the document's: kept alive by the operation, so their ids stay theirs
        self._live_sub_fields[key] = (field_details_list, collected)
        return collected

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> dict[str, Plain] | None:
        if parent_type is self.schema.subscription_type:
            return None  # the root field has a resolver anyway; its grouped set is new for every event
        return super()._plan(parent_type, grouped_field_set)

    def memo_sizes(self) -> tuple[int, int, int]:
        """Entries in the memos that could grow per event (for tests)."""
        return len(self._live_sub_fields), len(self._relevant_sub_fields), len(self._plain_plans)


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.append(node.name.value)


def _variables_in(node: Any) -> list[str]:
    visitor = _Variables()
    visit(node, visitor)
    return visitor.names


def selection_variables(document: DocumentNode, operation_name: str | None) -> frozenset[str]:
    """The variables an event's execution can read: every use in the operation and its fragments except the
    root field's own arguments (those only choose the events — the filter)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return frozenset()
    uses: dict[str, int] = {}
    for definition in document.definitions:
        if definition is operation or not isinstance(definition, OperationDefinitionNode):
            for name in _variables_in(definition.selection_set if definition is operation else definition):
                uses[name] = uses.get(name, 0) + 1
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            for argument in selection.arguments or ():
                for name in _variables_in(argument):
                    uses[name] -= 1
    return frozenset(name for name, count in uses.items() if count > 0)


def result_payload(result: ExecutionResult, request_id: str) -> str:
    out: dict[str, Any] = {}
    if result.errors:
        out["errors"] = [format_graphql_error(e, request_id) for e in result.errors]
    out["data"] = result.data
    return orjson.dumps(out).decode()


class LiveOperation:
    """Renders events for every subscriber of one operation (a `Renderer` of the hub)."""

    def __init__(self, template: Executor[Any], context_factory: Callable[[], Any], request_id: str) -> None:
        self.template = template
        self.context_factory = context_factory
        self.request_id = request_id
        self.subscribers = 0

    async def render(self, events: Sequence[Any]) -> list[str]:
        context = self.context_factory()  # one per batch: the batch's nested fields load together
        return [result_payload(r, self.request_id) for r in await self.execute(events, context)]

    async def execute(self, events: Sequence[Any], context: Any) -> list[ExecutionResult]:
        """The operation's selection executed on each event, with one context."""
        results: list[Any] = []
        pending: list[int] = []
        for event in events:
            executor = self.template.build_per_event_executor(event)
            executor.context_value = context
            result = executor.execute_operation(False)
            if inspect.isawaitable(result):
                pending.append(len(results))
            results.append(result)
        if pending:
            done = await asyncio.gather(*(results[i] for i in pending))
            for i, value in zip(pending, done, strict=True):
                results[i] = value
        return results


def request_errors(errors: Sequence[GraphQLError], request_id: str) -> list[dict[str, Any]]:
    return [format_graphql_error(e, request_id) for e in errors]
