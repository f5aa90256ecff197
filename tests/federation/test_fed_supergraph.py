"""Reading supergraphs: join metadata and the API schema (no subgraphs, no node)."""

from __future__ import annotations

import pytest
from graphql import print_schema

from atlas4d.federation.errors import PlanningError, SupergraphError
from atlas4d.federation.planner import QueryPlanner
from atlas4d.federation.supergraph import FieldJoin, Supergraph, TypeJoin

SUPERGRAPH = """
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.4", for: EXECUTION)
  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)
{
  query: Query
}

directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM \
| ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE
directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, \
external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String) repeatable on \
FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: \
Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | \
INPUT_OBJECT | SCALAR
directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA

scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
enum join__Graph {
  A @join__graph(name: "a", url: "http://a/graphql")
  B_1 @join__graph(name: "b-1", url: "http://b/graphql")
}

type Query @join__type(graph: A) @join__type(graph: B_1) {
  top: [Product!]! @join__field(graph: A)
  hidden: Secret @inaccessible @join__field(graph: A)
  thing: Thing @join__field(graph: B_1)
}

type Product implements Node @join__type(graph: A, key: "id")
  @join__type(graph: B_1, key: "id", resolvable: false) @join__implements(graph: A, interface: "Node") {
  id: ID!
  price: Int @join__field(graph: A) @join__field(graph: B_1, external: true)
  ship: Int @join__field(graph: B_1, requires: "price")
  code: String @inaccessible @join__field(graph: A)
  kind: Kind @join__field(graph: A)
}

interface Node @join__type(graph: A) { id: ID! }

type Secret @inaccessible @join__type(graph: A) { id: ID! }

union Thing @join__type(graph: B_1) @join__unionMember(graph: B_1, member: "Product") = Product

enum Kind @join__type(graph: A) {
  NEW @join__enumValue(graph: A)
  OLD @inaccessible @join__enumValue(graph: A)
}
"""


def test_join_metadata() -> None:
    sg = Supergraph.parse(SUPERGRAPH)
    assert sorted(sg.graphs) == ["a", "b-1"]
    assert sg.graphs["b-1"].url == "http://b/graphql"
    assert sg.type_joins["Product"] == [TypeJoin("a", "id"), TypeJoin("b-1", "id", resolvable=False)]
    assert sg.keys("Product", "b-1") == []
    assert sg.keys("Product", "b-1", resolvable_only=False) == ["id"]
    assert sg.field_joins[("Product", "ship")] == [FieldJoin("b-1", requires="price")]
    assert sg.resolving_graphs("Product", "price") == ["a"]
    assert sg.resolving_graphs("Product", "id") == ["a", "b-1"]  # no join__field: every graph of the type
    assert sg.implements["Product"] == [("a", "Node")]
    assert sg.possible_types_in_graph("Node", "a") == ["Product"]
    assert sg.possible_types_in_graph("Thing", "b-1") == ["Product"]
    assert sg.enum_values[("Kind", "OLD")] == ["a"]


def test_api_schema_hides_federation_and_inaccessible() -> None:
    printed = print_schema(Supergraph.parse(SUPERGRAPH).api_schema)
    for hidden in ("join__", "link__", "@inaccessible", "Secret", "hidden", "code", "OLD", "@link"):
        assert hidden not in printed
    for shown in ("type Product implements Node", "ship: Int", "union Thing = Product", "NEW"):
        assert shown in printed


@pytest.mark.parametrize(
    "sdl",
    [
        "type Query { a: Int }",
        "not graphql at all",
        'schema @link(url: "https://specs.apollo.dev/join/v0.4") { query: Query } type Query { a: Int }',
    ],
)
def test_rejects_what_is_not_a_supergraph(sdl: str) -> None:
    with pytest.raises(SupergraphError):
        Supergraph.parse(sdl)


def test_renamed_join_prefix() -> None:
    renamed = SUPERGRAPH.replace("join__", "j__").replace(
        '"https://specs.apollo.dev/join/v0.4", for', '"https://specs.apollo.dev/join/v0.4", as: "j", for'
    )
    sg = Supergraph.parse(renamed)
    assert sg.resolving_graphs("Product", "ship") == ["b-1"]
    assert "j__" not in print_schema(sg.api_schema)


def test_unreachable_field_is_a_planning_error_not_a_loop() -> None:
    """A supergraph composition would reject (B's only key is a field only B has): planning fails cleanly."""
    cyclic = SUPERGRAPH.replace(
        'type Product implements Node @join__type(graph: A, key: "id")\n'
        '  @join__type(graph: B_1, key: "id", resolvable: false)',
        'type Product implements Node @join__type(graph: A, key: "id")\n  @join__type(graph: B_1, key: "code2")',
    ).replace(
        '  ship: Int @join__field(graph: B_1, requires: "price")',
        "  ship: Int @join__field(graph: B_1)\n  code2: ID @join__field(graph: B_1)",
    )
    planner = QueryPlanner(Supergraph.parse(cyclic))
    with pytest.raises(PlanningError):
        planner.plan("{ top { ship } }")
