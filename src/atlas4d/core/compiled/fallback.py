"""Completing a compiled page with the stock executor, over what its one statement already fetched.

When a page holds a value graphql-core would not complete as is (a null in a non-null field, a NaN), or
its statement failed, the answer must be the stock executor's: the same errors, paths, locations and null
propagation. So the operation is executed by graphql-core as usual, with one middleware (graphql-core's
public hook) answering the fields whose values the statement fetched — the root field's connection, each
entity's observation list — from those values, or raising the statement's error at the root field. The
statement is never run again, and no other field reaches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLResolveInfo, GraphQLSchema, execute


class Prefetched:
    """graphql-core middleware: the value (or the error) of a field at a given response path."""

    def __init__(self, values: Mapping[tuple[Any, ...], Any]) -> None:
        self.values = values

    def resolve(
        self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], **args: Any
    ) -> Any:
        key = tuple(info.path.as_list())
        if key in self.values:
            value = self.values[key]
            if isinstance(value, BaseException):
                raise value
            return value
        return next_(root, info, **args)


async def complete(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    values: Mapping[tuple[Any, ...], Any],
) -> ExecutionResult:
    result = execute(
        schema,
        document,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
        middleware=[Prefetched(values)],
    )
    if not isinstance(result, ExecutionResult):
        result = await result
    assert isinstance(result, ExecutionResult)
    return result
