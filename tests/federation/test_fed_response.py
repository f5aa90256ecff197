"""Shaping merged data to the operation: GraphQL spec rules, without subgraphs."""

from __future__ import annotations

from typing import Any

from graphql import build_schema, parse

from atlas4d.federation.planner.operation import read_operation
from atlas4d.federation.response import shape_response

SCHEMA = build_schema(
    """
    type Query { items: [Item!] item: Item! maybe: Item node: Node color: Color }
    interface Node { id: ID! }
    type Item implements Node { id: ID! name: String! note: String tags: [String!]! }
    type Other implements Node { id: ID! size: Int }
    enum Color { RED GREEN }
    """
)


def shape(
    query: str,
    data: dict[str, Any],
    variables: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    operation = read_operation(parse(query), None)
    return shape_response(SCHEMA, operation, data, variables or {}, errors or [])


def test_planner_fields_dropped_aliases_and_typename_answered() -> None:
    # Subgraph answers use the response keys (aliases); planner-added fields are dropped.
    data = {"maybe": {"__typename": "Item", "id": "1", "n": "a", "__fed_id": "1", "extra": 1}}
    result, errors = shape("{ maybe { n: name t: __typename } }", data)
    assert result == {"maybe": {"n": "a", "t": "Item"}} and errors == []


def test_fragments_follow_the_runtime_type() -> None:
    data = {"node": {"__typename": "Other", "id": "9", "size": 3, "name": "x"}}
    result, _ = shape("{ node { id ... on Item { name } ... on Other { size } } }", data)
    assert result == {"node": {"id": "9", "size": 3}}


def test_skip_and_include_with_variables_and_literals() -> None:
    query = "query($a: Boolean!) { maybe { id @include(if: $a) name @skip(if: true) ... @skip(if: $a) { note } } }"
    data = {"maybe": {"__typename": "Item", "id": "1", "name": "n", "note": "x"}}
    assert shape(query, data, {"a": True})[0] == {"maybe": {"id": "1"}}
    assert shape(query, data, {"a": False})[0] == {"maybe": {"note": "x"}}


def test_null_in_non_null_field_nulls_the_nearest_nullable_parent() -> None:
    data = {
        "items": [{"id": "1", "name": "a", "tags": []}, {"id": "2", "name": None, "tags": []}],
        "maybe": None,
    }
    result, errors = shape("{ items { id name } maybe { id } }", data)
    # Item.name is non-null, list items are non-null: the whole (nullable) list becomes null.
    assert result == {"items": None, "maybe": None}
    assert errors == [
        {"message": "Cannot return null for non-nullable field Item.name.", "path": ["items", 1, "name"]}
    ]


def test_null_propagates_to_data_and_subgraph_errors_are_not_repeated() -> None:
    subgraph_error = {"message": "boom", "path": ["item", "name"], "extensions": {"serviceName": "s"}}
    result, errors = shape("{ item { name } }", {"item": {"name": None}}, errors=[subgraph_error])
    assert result is None
    assert errors == [subgraph_error]


def test_enum_values_outside_the_api_schema_become_null_with_an_error() -> None:
    result, errors = shape("{ color }", {"color": "PURPLE"})
    assert result == {"color": None}
    assert errors[0]["path"] == ["color"] and "PURPLE" in errors[0]["message"]
