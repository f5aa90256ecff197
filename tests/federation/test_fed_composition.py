"""Our composition checked against @apollo/composition on the same subgraph SDLs.

Supergraphs are compared after normalisation: the API schema each one gives, and the join metadata our supergraph
reader extracts (graphs, join__type, join__field, join__implements, join__unionMember, join__enumValue).
"""

from __future__ import annotations

from typing import Any

import pytest
from fed_servers import node_json
from fed_stack import Stack
from graphql import GraphQLSchema, print_schema

from atlas4d.federation.compose import CompositionError, SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.supergraph import Supergraph

LINK = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable", '
    '"@external", "@requires", "@provides", "@override", "@inaccessible", "@interfaceObject"])\n'
)


def subgraphs(**sdls: str) -> list[dict[str, str]]:
    return [
        {"name": name, "url": f"http://{name}.test/graphql", "sdl": LINK + sdl} for name, sdl in sdls.items()
    ]


def apollo_compose(subs: list[dict[str, str]]) -> dict[str, Any]:
    return dict(node_json("compose.js", subs))


def our_compose(subs: list[dict[str, str]]) -> str:
    return compose([SubgraphSource(s["name"], s["url"], s["sdl"]) for s in subs])


def normalised(sdl: str) -> dict[str, Any]:
    supergraph = Supergraph.parse(sdl)
    return {
        "api_schema": print_schema(supergraph.api_schema),
        "graphs": supergraph.graphs,
        "join__type": {k: sorted(map(repr, v)) for k, v in supergraph.type_joins.items()},
        "join__field": {k: sorted(map(repr, v)) for k, v in supergraph.field_joins.items()},
        "join__implements": {k: sorted(v) for k, v in supergraph.implements.items()},
        "join__unionMember": {k: sorted(v) for k, v in supergraph.union_members.items()},
        "join__enumValue": {k: sorted(v) for k, v in supergraph.enum_values.items()},
    }


def schema_shape(schema: GraphQLSchema) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for name, type_ in schema.type_map.items():
        if name.startswith("__"):
            continue
        fields = getattr(type_, "fields", None) or {}
        shape[name] = {
            "kind": type(type_).__name__,
            "fields": sorted(
                (f, str(d.type), sorted((a, str(arg.type)) for a, arg in getattr(d, "args", {}).items()))
                for f, d in fields.items()
            ),
            "interfaces": sorted(i.name for i in getattr(type_, "interfaces", None) or ()),
            "members": sorted(t.name for t in getattr(type_, "types", None) or ()),
            "values": sorted(getattr(type_, "values", None) or ()),
        }
    return shape


VALID = {
    "entity extended by key": subgraphs(
        a='type Query { product(id: ID!): Product } type Product @key(fields: "id") { id: ID! name: String }',
        b='type Product @key(fields: "id") { id: ID! reviews: [String!]! }',
    ),
    "compound, nested and multiple keys": subgraphs(
        a='type Query { p: P } type P @key(fields: "id") @key(fields: "sku pkg { id }") { id: ID! sku: String! '
        "pkg: Pkg! } type Pkg @shareable { id: ID! }",
        b='type P @key(fields: "sku pkg { id }") { sku: String! pkg: Pkg! stock: Int } '
        "type Pkg @shareable { id: ID! }",
    ),
    "requires, provides, external, override": subgraphs(
        a='type Query { top: [P!]! } type P @key(fields: "id") { id: ID! price: Int! weight: Int! '
        "score: Int! }",
        b='type P @key(fields: "id") { id: ID! price: Int! @external weight: Int! @external '
        'ship: Int! @requires(fields: "price weight") score: Int! @override(from: "a") reviews: [R!]! } '
        'type R { author: U @provides(fields: "name") } type U @key(fields: "id") { id: ID! name: String @external }',
        c='type U @key(fields: "id") { id: ID! name: String @shareable }',
    ),
    "shareable fields and value types with differing nullability": subgraphs(
        a="type Query { v: V @shareable } type V @shareable { x: Int! y: String }",
        b="type Query { v: V @shareable } type V @shareable { x: Int y: String }",
    ),
    "interfaces, unions and enums across subgraphs": subgraphs(
        a="type Query { node: Node things: [Thing] color(c: Color): Color } interface Node { id: ID! } "
        'type A implements Node @key(fields: "id") { id: ID! } union Thing = A | B '
        'type B @key(fields: "id") { id: ID! } enum Color { RED GREEN }',
        b='interface Node { id: ID! } type C implements Node @key(fields: "id") { id: ID! } '
        'type Query { other: Thing } union Thing = C type A @key(fields: "id") { id: ID! more: Int } '
        "enum Color { RED GREEN }",
    ),
    "inaccessible and input types": subgraphs(
        a="type Query { find(f: Filter): [P] } input Filter { name: String limit: Int = 10 secret: String "
        '@inaccessible } type P @key(fields: "id") { id: ID! code: String @inaccessible kind: Kind } '
        "enum Kind { A B @inaccessible }",
        b='input Filter { name: String limit: Int = 10 secret: String } type P @key(fields: "id") '
        "{ id: ID! extra: Int }",
    ),
    "interface objects": subgraphs(
        a='type Query { media: [Media] } interface Media @key(fields: "id") { id: ID! title: String } '
        'type Movie implements Media @key(fields: "id") { id: ID! title: String }',
        b='type Media @key(fields: "id") @interfaceObject { id: ID! rating: Int }',
    ),
}


@pytest.mark.parametrize("case", VALID, ids=list(VALID))
def test_same_supergraph_as_apollo(case: str) -> None:
    subs = VALID[case]
    theirs = apollo_compose(subs)
    assert "supergraphSdl" in theirs, theirs
    assert normalised(our_compose(subs)) == normalised(theirs["supergraphSdl"])


def test_matrix_subgraphs_compose_like_apollo(stack: Stack) -> None:
    subs = [{"name": n, "url": stack.urls[n], "sdl": sdl} for n, sdl in stack.sdls.items()]
    ours = our_compose(subs)
    assert normalised(ours) == normalised(stack.supergraph_sdl)
    assert ours == stack.supergraph_sdl  # and in fact byte for byte


MISTAKES = {
    "unresolvable key": (
        subgraphs(
            a='type Query { product: Product } type Product @key(fields: "id") { id: ID! name: String }',
            b='type Product @key(fields: "id", resolvable: false) { id: ID! price: Int }',
        ),
        "SATISFIABILITY_ERROR",
        ["Product.price", '"a"'],
    ),
    "non-shareable field in two subgraphs": (
        subgraphs(
            a='type Query { product: Product } type Product @key(fields: "id") { id: ID! name: String }',
            b='type Product @key(fields: "id") { id: ID! name: String }',
        ),
        "INVALID_FIELD_SHARING",
        ["Product.name", '"a"', '"b"'],
    ),
    "wrong @external (no subgraph defines the field)": (
        subgraphs(
            a='type Query { product: Product } type Product @key(fields: "id") { id: ID! }',
            b='type Product @key(fields: "id") { id: ID! weight: Int @external '
            'ship: Int @requires(fields: "weight") }',
        ),
        "EXTERNAL_MISSING_ON_BASE",
        ["Product.weight", '"b"'],
    ),
    "unused @external": (
        subgraphs(
            a='type Query { product: Product } type Product @key(fields: "id") { id: ID! weight: Int }',
            b='type Product @key(fields: "id") { id: ID! weight: Int @external }',
        ),
        "EXTERNAL_UNUSED",
        ["Product.weight", "[b]"],
    ),
    "@requires on a field the subgraph resolves itself": (
        subgraphs(
            a='type Query { product: Product } type Product @key(fields: "id") { id: ID! weight: Int }',
            b='type Product @key(fields: "id") { id: ID! size: Int ship: Int @requires(fields: "size") }',
        ),
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
        ["[b]", "Product.ship", "Product.size"],
    ),
    "key on a field the type lacks": (
        subgraphs(
            a='type Query { product: Product } type Product @key(fields: "upc") { id: ID! }',
        ),
        "KEY_INVALID_FIELDS",
        ["Product", "upc", "[a]"],
    ),
    "type kind mismatch": (
        subgraphs(
            a="type Query { t: T } type T { id: ID }",
            b="interface T { id: ID }",
        ),
        "TYPE_KIND_MISMATCH",
        ['"T"', '"a"', '"b"'],
    ),
}


@pytest.mark.parametrize("case", MISTAKES, ids=list(MISTAKES))
def test_classic_mistakes_rejected_by_both(case: str) -> None:
    subs, code, mentions = MISTAKES[case]
    theirs = apollo_compose(subs)
    assert code in {e["code"] for e in theirs.get("errors", [])}, theirs
    with pytest.raises(CompositionError) as raised:
        our_compose(subs)
    ours = [e for e in raised.value.errors if e.code == code]
    assert ours, raised.value.errors
    for mention in mentions:
        assert mention in ours[0].message, ours[0].message


def test_the_guild_composition_accepts_our_subgraphs_and_agrees(stack: Stack) -> None:
    """Our subgraphs (Federation 2.7) compose with The Guild's composition (Hive) too, into the same API schema
    and join metadata as ours and Apollo's."""
    subs = [{"name": n, "url": stack.urls[n], "sdl": sdl} for n, sdl in stack.sdls.items()]
    guild = node_json("compose-guild.js", subs)
    assert "supergraphSdl" in guild, guild
    ours, theirs = normalised(our_compose(subs)), normalised(guild["supergraphSdl"])
    # The Guild orders types and fields its own way: compare the schemas' content, not their printing.
    assert schema_shape(Supergraph.parse(our_compose(subs)).api_schema) == schema_shape(
        Supergraph.parse(guild["supergraphSdl"]).api_schema
    )
    for part in ("graphs", "join__type", "join__implements", "join__unionMember", "join__enumValue"):
        assert ours[part] == theirs[part], part
    # join__field: The Guild writes some redundant entries (e.g. for fields every subgraph of the type has);
    # what each subgraph resolves must agree.
    guild_sg = Supergraph.parse(guild["supergraphSdl"])
    ours_sg = Supergraph.parse(our_compose(subs))
    for type_name, field_name in ours_sg.field_types:
        assert sorted(guild_sg.resolving_graphs(type_name, field_name)) == sorted(
            ours_sg.resolving_graphs(type_name, field_name)
        ), (type_name, field_name)


async def test_gateway_runs_the_guild_supergraph(stack: Stack) -> None:
    subs = [{"name": n, "url": stack.urls[n], "sdl": sdl} for n, sdl in stack.sdls.items()]
    gateway = Gateway.from_supergraph(node_json("compose-guild.js", subs)["supergraphSdl"])
    try:
        for query in (
            "{ topProducts { name reviews { author { name } } inStock delivery } }",
            "{ accounts { __typename balance ... on BusinessAccount { company } } }",
            '{ search(term: "o") { ... on Book { title reviewCount } ... on Product { upc } } }',
        ):
            assert await gateway.execute(query) == await stack.gateways["remote"].execute(query)
    finally:
        await gateway.aclose()
