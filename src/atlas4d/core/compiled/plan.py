"""What an operation selects, as graphql-core's own CollectFields sees it, and its arguments as the resolvers
receive them.

Fields are grouped by response key exactly as the executor groups them (fragments and inline fragments
expanded, @skip/@include applied, same-key fields merged), through `FastExecutor`'s adapter. Arguments are
coerced by graphql-core and converted by Strawberry's own `convert_arguments`, so a compiled page reads the
same `ObservationFilter`, `EntityFilter` and `TimeFilter` objects the resolvers do, and turns them into SQL
through the same `to_domain` conversions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLField, GraphQLObjectType, GraphQLOutputType, OperationType
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.values import get_argument_values
from strawberry.types.arguments import convert_arguments

from atlas4d.web.fast_executor import STRAWBERRY_BACKREF, FastExecutor

TYPENAME = "__typename"


@dataclass(frozen=True)
class Field:
    """One response key of a selection: the field it names and every node merged under it."""

    key: str
    name: str
    parent: GraphQLObjectType
    definition: GraphQLField | None  # None for a meta field (__typename, __type, __schema)
    details: FieldDetailsList

    @property
    def type(self) -> GraphQLOutputType:
        assert self.definition is not None
        return self.definition.type


class Selection:
    """An operation prepared for compiling: its executor (fragments, coerced variables) and its schema."""

    def __init__(self, strawberry_schema: strawberry.Schema, executor: FastExecutor) -> None:
        self.strawberry_schema = strawberry_schema
        self.executor = executor
        self.schema = executor.schema

    @classmethod
    def of(
        cls,
        strawberry_schema: strawberry.Schema,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> Selection | None:
        """None unless the operation is a query that can run (bad variables are the executor's to report)."""
        schema = strawberry_schema._schema
        built = FastExecutor.build(
            schema, document, raw_variable_values=variables, operation_name=operation_name
        )
        if isinstance(built, list) or not isinstance(built, FastExecutor):
            return None
        operation = built.operation
        if operation.operation is not OperationType.QUERY or not built.error_propagation:
            return None
        return cls(strawberry_schema, built)

    def root(self) -> list[Field] | None:
        grouped = self.executor.root_fields()
        query = self.schema.query_type
        return None if grouped is None or query is None else self._fields(query, grouped)

    def children(self, parent: GraphQLObjectType, of: Field) -> list[Field] | None:
        """The merged selection of `of` on `parent`, or None when it defers anything."""
        grouped, defers, _forbidden = self.executor.collect_subfields(parent, of.details)
        return None if defers else self._fields(parent, grouped)

    def _fields(self, parent: GraphQLObjectType, grouped: GroupedFieldSet) -> list[Field]:
        out = []
        for key, details in grouped.items():
            name = details[0].node.name.value
            # meta fields (__typename, __type, __schema) have no definition here: never compiled
            out.append(Field(key, name, parent, parent.fields.get(name), details))
        return out

    def arguments(self, field: Field) -> dict[str, Any]:
        """The field's arguments exactly as its Strawberry resolver receives them (validation guarantees
        that every node merged under one key has the same arguments)."""
        assert field.definition is not None
        coerced = get_argument_values(field.definition, field.details[0].node, self.executor.variable_values)
        definition = field.definition.extensions[STRAWBERRY_BACKREF]
        converter = self.strawberry_schema.schema_converter
        return convert_arguments(
            coerced, definition.arguments, scalar_registry=converter.scalar_registry, config=converter.config
        )
