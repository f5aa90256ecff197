"""Query plans on the scenario supergraph: shape, keys, batching and the plan cache (no subgraphs run)."""

from __future__ import annotations

import json

import pytest
from fed_stack import Stack

from atlas4d.federation.planner import FetchNode, FlattenNode, QueryPlanner, SequenceNode
from atlas4d.federation.supergraph import Supergraph


@pytest.fixture(scope="module")
def planner(stack: Stack) -> QueryPlanner:
    return QueryPlanner(Supergraph.parse(stack.supergraph_sdl))


def services(planner: QueryPlanner, query: str) -> list[str]:
    return [f.service for f in planner.plan(query).fetches]


def test_root_fields_split_by_subgraph_run_in_parallel(planner: QueryPlanner) -> None:
    plan = planner.plan("{ topProducts { upc } topReviews { id } me { id } }")
    assert plan.to_json()["node"]["kind"] == "Parallel"
    assert sorted(services(planner, "{ topProducts { upc } topReviews { id } me { id } }")) == [
        "accounts",
        "products",
        "reviews",
    ]


def test_entity_jump_uses_the_key_the_target_accepts(planner: QueryPlanner) -> None:
    plan = planner.plan("{ topReviews { product { inStock } } }")
    inventory = next(f for f in plan.fetches if f.service == "inventory")
    assert inventory.entity and inventory.merge_at == ("topReviews", "@", "product")
    rep = inventory.representations["Product"]
    assert rep.typename == "Product"
    assert "sku" in inventory.operation or "sku" in plan.to_text()
    text = plan.to_text()
    assert "pkg {" in text  # the compound key, fetched from products first (reviews only knows upc)
    assert [f.service for f in plan.fetches] == ["reviews", "products", "inventory"]


def test_requires_fetches_required_fields_first(planner: QueryPlanner) -> None:
    plan = planner.plan("{ topProducts { delivery } }")
    assert isinstance(plan.node, SequenceNode)
    first, second = plan.node.nodes
    assert isinstance(first, FetchNode) and first.service == "products"
    assert "dimensions" in first.operation and "size" in first.operation
    assert isinstance(second, FlattenNode) and second.node.service == "inventory"
    required = json.dumps(plan.to_json()["node"]["nodes"][1]["node"]["requires"])
    assert "dimensions" in required and "weight" in required


def test_provides_keeps_the_field_in_the_providing_subgraph(planner: QueryPlanner) -> None:
    assert services(planner, "{ topReviews { author { username } } }") == ["reviews"]
    assert services(planner, "{ topReviews { author { username name } } }") == ["reviews", "accounts"]


def test_override_moves_the_field(planner: QueryPlanner) -> None:
    assert services(planner, "{ topProducts { topReviewScore } }") == ["products", "reviews"]


def test_shareable_root_goes_where_most_of_the_selection_is(planner: QueryPlanner) -> None:
    assert services(planner, '{ product(upc: "1") { reviews { body } } }') == ["reviews"]
    assert services(planner, '{ product(upc: "1") { name price } }') == ["products"]


def test_abstract_types_are_typename_driven(planner: QueryPlanner) -> None:
    plan = planner.plan(
        '{ search(term: "a") { ... on Book { reviewCount } ... on Product { reviews { id } } } }'
    )
    reviews = next(f for f in plan.fetches if f.service == "reviews")
    assert set(reviews.representations) == {"Book", "Product"}  # one _entities call for both types


def test_interface_object_representations_use_the_interface_name(planner: QueryPlanner) -> None:
    plan = planner.plan("{ accounts { balance } }")
    reviews = next(f for f in plan.fetches if f.service == "reviews")
    assert {rep.typename for rep in reviews.representations.values()} == {"Account"}
    assert set(reviews.representations) == {"PersonalAccount", "BusinessAccount"}


def test_mutations_are_sequential(planner: QueryPlanner) -> None:
    query = 'mutation { a: addProduct(name: "a") { seq } b: addReview(body: "b") { seq } c: addProduct(name: "c") { seq } }'
    plan = planner.plan(query)
    assert isinstance(plan.node, SequenceNode)
    assert [n.service for n in plan.node.nodes if isinstance(n, FetchNode)] == [
        "products",
        "reviews",
        "products",
    ]


def test_variables_and_directives_reach_the_subgraph(planner: QueryPlanner) -> None:
    plan = planner.plan(
        "query Q($n: Int!, $r: Boolean!) { topProducts(first: $n) { reviews @include(if: $r) { id } } }"
    )
    products, reviews = plan.fetches
    assert products.variable_usages == ["n"] and "$n: Int!" in products.operation
    assert reviews.variable_usages == ["r"] and "@include(if: $r)" in reviews.operation
    assert products.operation.startswith("query Q__products__0")


def test_plan_cache_keyed_by_normalised_document_and_operation(planner: QueryPlanner) -> None:
    before = planner.cache_info
    a = planner.plan("query A { me { id } } query B { users { id } }", "A")
    assert planner.plan("query A {\n  me {  id }\n}\nquery B { users { id } }", "A") is a
    b = planner.plan("query A { me { id } } query B { users { id } }", "B")
    assert b is not a
    assert planner.cache_info == before + 2


def test_text_and_json_renderings(planner: QueryPlanner) -> None:
    plan = planner.plan("{ topProducts { reviews { body } } }")
    text = plan.to_text()
    assert text.startswith("QueryPlan {") and 'Fetch(service: "products")' in text
    assert 'Flatten(path: "topProducts.@")' in text and "=>" in text
    document = plan.to_json()
    assert document["kind"] == "QueryPlan"
    assert json.loads(json.dumps(document)) == document


def test_entity_fetches_ready_together_share_one_request(planner: QueryPlanner) -> None:
    """The products fetches for two paths run after the same reviews fetch: one request, two `_entities`."""
    plan = planner.plan(
        "{ topProducts(first: 2) { reviews { product { name reviews { product { inStock } } } } } }"
    )
    [batch] = [n for n in plan.to_json()["node"]["nodes"] if n["kind"] == "Batch"]
    assert batch["serviceName"] == "products"
    assert [n["path"] for n in batch["nodes"]] == [
        ["topProducts", "@", "reviews", "@", "product"],
        ["topProducts", "@", "reviews", "@", "product", "reviews", "@", "product"],
    ]
    assert "_0: _entities(representations: $representations_0)" in batch["operation"]
    assert "_1: _entities(representations: $representations_1)" in batch["operation"]
    assert 'Batch(service: "products")' in plan.to_text()


def test_a_requires_chain_runs_in_dependency_order(planner: QueryPlanner) -> None:
    """freightClass (inventory) requires shippingEstimate, which (reviews) requires price and weight
    (products): three steps, in that order, each after what it reads."""
    plan = planner.plan("{ topProducts(first: 5) { upc freightClass } }")
    node = plan.to_json()["node"]
    assert node["kind"] == "Sequence"
    assert [n.get("serviceName") or n["node"]["serviceName"] for n in node["nodes"]] == [
        "products",
        "reviews",
        "inventory",
    ]
    reviews, inventory = node["nodes"][1]["node"], node["nodes"][2]["node"]
    assert "price" in json.dumps(reviews["requires"]) and "shippingEstimate" in json.dumps(
        inventory["requires"]
    )
