"""Scenario matrix: our gateway against @apollo/gateway on the same subgraphs and the same operations.

For every scenario our gateway runs twice, with the Python subgraphs in-process ("local") and over HTTP
("remote"); @apollo/gateway always calls them over HTTP. `data` must be identical and `errors` equivalent (same
paths, same subgraph messages). Request counts are compared with Apollo's and pinned where batching matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fed_stack import IN_PROCESS, Stack, assert_equivalent
from fed_subgraphs.state import MUTATIONS, RATINGS
from graphql import get_introspection_query

from atlas4d.federation.gateway import Gateway

MODES = ("local", "remote")


@dataclass(frozen=True)
class Scenario:
    name: str
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    ratings_mode: str = "ok"
    # Subgraph requests our gateway makes for the operation, when pinned (batching proven, not assumed).
    requests: dict[str, int] | None = None
    # Where @apollo/gateway is wrong, ask it an equivalent query it gets right, then rename response keys.
    oracle: str | None = None
    oracle_renames: dict[str, str] = field(default_factory=dict)


SCENARIOS = [
    Scenario(
        "simple entity call",
        "{ topProducts { upc name reviews { id body } } }",
        requests={"products": 1, "reviews": 1},
    ),
    Scenario(
        "multiple keys (upc from reviews, compound key to inventory)",
        "{ topReviews { body product { upc inStock } } }",
        requests={"reviews": 1, "products": 1, "inventory": 1},
    ),
    Scenario(
        "compound key",
        "{ topProducts(first: 4) { sku pkg { id } inStock } }",
        requests={"products": 1, "inventory": 1},
    ),
    Scenario(
        "chain A -> B -> C",
        "{ topProducts { name reviews { body author { id name email account { id } } } } }",
        requests={"products": 1, "reviews": 1, "accounts": 1},
    ),
    Scenario(
        "@requires with a nested selection",
        "{ topProducts(first: 3) { upc delivery shippingEstimate } }",
        requests={"products": 1, "inventory": 1, "reviews": 1},
    ),
    Scenario(
        "@requires on an entity the requiring subgraph returned",
        "{ topReviews { product { upc shippingEstimate } } }",
        requests={"reviews": 2, "products": 1},
    ),
    Scenario(
        # @apollo/gateway 2.14 answers `upc: name` with the upc here (the key it fetched for the jump overwrites
        # the client's alias), so the oracle is the same query with a non-clashing alias.
        "client alias clashing with a key field",
        "{ topProducts(first: 2) { upc: name reviews { body } } }",
        requests={"products": 1, "reviews": 1},
        oracle="{ topProducts(first: 2) { productName: name reviews { body } } }",
        oracle_renames={"productName": "upc"},
    ),
    Scenario(
        "entities in nested lists across four subgraphs",
        "{ users { name reviews { body product { name inStock } } } }",
        requests={"accounts": 1, "reviews": 1, "products": 1, "inventory": 1},
    ),
    Scenario(
        "null entity from a hop: the next hop skips it (null keys)",
        "{ ghostReview { body product { upc inStock } } }",
        requests={"reviews": 1, "products": 1},  # no inventory call: nothing left to send
    ),
    Scenario(
        "enum value hidden by @inaccessible",
        "{ topProducts(first: 4) { upc category } }",
        requests={"products": 1},
    ),
    Scenario(
        "Federation 1 style extension: @external key returned by the extending subgraph",
        "{ topRated { upc stars name reviews { body } } }",
        requests={"ratings": 1, "products": 1, "reviews": 1},
    ),
    Scenario(
        "@requires a field with an argument",
        "{ topProducts(first: 3) { upc customsNote } }",
        requests={"products": 1, "inventory": 1},
    ),
    Scenario(
        # @apollo/gateway 2.14 sends the client's `priceIn(currency: "USD")` as the required EUR value here;
        # the oracle is the same query with the client's field aliased away.
        "@requires a field the client selects with another argument",
        '{ topProducts(first: 3) { priceIn(currency: "USD") customsNote } }',
        requests={"products": 1, "inventory": 1},
        oracle='{ topProducts(first: 3) { usd: priceIn(currency: "USD") customsNote } }',
        oracle_renames={"usd": "priceIn"},
    ),
    Scenario(
        "circular references across subgraphs",
        "{ topProducts(first: 2) { name reviews { product { name reviews { body product { upc inStock } } } } } }",
        # products twice: its two entity fetches of the second step share one request (Apollo: 3)
        requests={"products": 2, "reviews": 1, "inventory": 1},
    ),
    Scenario(
        "shareable root field returning a value type no single subgraph can serve",
        "{ viewer { region cart { name reviews { body } } myReviews { body product { name } } } }",
        requests={"products": 2, "reviews": 2},
    ),
    Scenario(
        "@requires of a field that itself @requires (chain across three subgraphs)",
        "{ topProducts(first: 5) { upc freightClass } }",
        requests={"products": 1, "reviews": 1, "inventory": 1},
    ),
    Scenario(
        "@provides",
        "{ topReviews { body author { username } } }",
        requests={"reviews": 1},
    ),
    Scenario(
        "@provides with a fragment on a union member",
        "{ topReviews(first: 2) { mentions { __typename ... on Book { id title } ... on Magazine { title issue } } } }",
        requests={"reviews": 1},
    ),
    Scenario(
        "@provides with a fragment, selection beyond it",
        "{ topReviews(first: 1) { mentions { ... on Book { title year } } } }",
        requests={"reviews": 1, "products": 1},
    ),
    Scenario(
        "@provides not covering the selection",
        "{ topReviews { author { username name } } }",
        requests={"reviews": 1, "accounts": 1},
    ),
    Scenario(
        "shareable root field served by the subgraph with most of the selection",
        '{ product(upc: "1") { reviews { body } topReviewScore } }',
        requests={"reviews": 1},
    ),
    Scenario(
        "shareable root field, other subgraph",
        '{ product(upc: "2") { name price } }',
        requests={"products": 1},
    ),
    Scenario(
        "@override",
        "{ topProducts(first: 2) { upc topReviewScore } }",
        requests={"products": 1, "reviews": 1},
    ),
    Scenario(
        "interface implemented across subgraphs",
        "{ publications { __typename id title ... on Book { year reviewCount } } "
        "latestPublications { __typename title ... on Magazine { issue } } }",
        requests={"products": 1, "reviews": 2},
    ),
    Scenario(
        "union across subgraphs",
        '{ search(term: "o") { __typename ... on Product { upc reviews { body } } '
        "... on Book { title reviewCount } } }",
        requests={"products": 1, "reviews": 1},
    ),
    Scenario(
        "@interfaceObject: fields from the interface-object subgraph",
        "{ accounts { __typename id owner balance ... on BusinessAccount { company } } }",
        requests={"accounts": 1, "reviews": 1},
    ),
    Scenario(
        "@interfaceObject: concrete types from the interface's subgraph",
        "{ richestAccount { id balance __typename ... on BusinessAccount { company } "
        "... on PersonalAccount { nickname } } }",
        requests={"reviews": 1, "accounts": 1},
    ),
    Scenario(
        "@inaccessible field is not queryable",
        "{ topProducts { upc internalCode } }",
        requests={},
    ),
    Scenario(
        "@inaccessible hidden from introspection",
        '{ __type(name: "Product") { fields { name } } }',
        requests={},
    ),
    Scenario(
        "aliases, fragments, variables, @skip/@include",
        """
        query Shop($first: Int!, $withReviews: Boolean!, $noName: Boolean!) {
          best: topProducts(first: $first) {
            ...Basics
            code: upc
            name @skip(if: $noName)
            ... @include(if: $withReviews) { reviews { text: body } }
            ... on Product { stock: inStock }
          }
          again: topProducts(first: 1) { upc }
        }
        fragment Basics on Product { upc price }
        """,
        {"first": 3, "withReviews": True, "noName": True},
        requests={"products": 1, "reviews": 1, "inventory": 1},
    ),
    Scenario(
        "@skip/@include the other way",
        """
        query Shop($first: Int!, $withReviews: Boolean!, $noName: Boolean!) {
          best: topProducts(first: $first) { upc name @skip(if: $noName)
            ... @include(if: $withReviews) { reviews { body } } }
        }
        """,
        {"first": 2, "withReviews": False, "noName": False},
        requests={"products": 1},  # the reviews fetch is all skipped: not sent
    ),
    Scenario(
        "__typename at the root",
        "{ __typename }",
        requests={},
    ),
    Scenario(
        "subgraph field errors, nullable and non-null",
        "{ topProducts { upc stars ratingLabel } }",
        requests={"products": 1, "ratings": 1},
    ),
    Scenario(
        "subgraph field error on a nullable field keeps the rest",
        "{ topProducts { upc name stars } }",
        requests={"products": 1, "ratings": 1},
    ),
    Scenario(
        "subgraph down: rest of the data returned",
        "{ topProducts { upc name stars } }",
        ratings_mode="down",
        requests={"products": 1, "ratings": 1},
    ),
    Scenario(
        "subgraph down under a non-null field",
        "{ topProducts { upc ratingLabel } ratingsVersion warehouseName }",
        ratings_mode="down",
    ),
    Scenario(
        "mutations run in order",
        'mutation { a: addProduct(name: "x") { seq subgraph } b: addReview(body: "y") { seq subgraph } '
        'c: addProduct(name: "z") { seq subgraph } }',
        requests={"products": 2, "reviews": 1},
    ),
]


def renamed(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {renames.get(k, k): renamed(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(v, renames) for v in value]
    return value


async def apollo(stack: Stack, scenario: Scenario) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            stack.apollo_url,
            json={"query": scenario.oracle or scenario.query, "variables": scenario.variables},
        )
        return dict(renamed(response.json(), scenario.oracle_renames))


async def test_apollo_gateway_bugs_still_there(stack: Stack) -> None:
    """Tells us when the oracle work-arounds above can go: Apollo's answers to these queries are wrong."""
    async with httpx.AsyncClient(timeout=30) as client:
        query = "{ topProducts(first: 1) { upc: name reviews { body } } }"
        theirs = (await client.post(stack.apollo_url, json={"query": query})).json()
        ours = await stack.gateways["local"].execute(query)
        assert theirs["data"]["topProducts"][0]["upc"] == "1"
        assert ours["data"]["topProducts"][0]["upc"] == "Product 1"
        query = '{ topProducts(first: 1) { priceIn(currency: "USD") customsNote } }'
        theirs = (await client.post(stack.apollo_url, json={"query": query})).json()
        ours = await stack.gateways["local"].execute(query)
        assert theirs["data"]["topProducts"][0]["customsNote"] == "SKU-1: declare 100.00 EUR"
        assert ours["data"]["topProducts"][0]["customsNote"] == "SKU-1: declare 90.00 EUR"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_same_answer_as_apollo_gateway(stack: Stack, scenario: Scenario, mode: str) -> None:
    RATINGS.mode = scenario.ratings_mode
    stack.reset_counts()
    theirs = await apollo(stack, scenario)
    apollo_counts = stack.http_counts()
    mutation_log = list(MUTATIONS.entries)
    MUTATIONS.reset()
    stack.reset_counts()
    ours = await stack.gateways[mode].execute(scenario.query, scenario.variables)
    assert_equivalent(ours, theirs)
    assert MUTATIONS.entries == mutation_log
    our_counts = stack.gateway_counts(mode)
    http_counts = stack.http_counts()
    if mode == "remote":
        # Every request we report was really made, and never more of them than Apollo makes.
        assert {k: v for k, v in our_counts.items() if v} == {k: v for k, v in http_counts.items() if v}
    for name, count in our_counts.items():
        assert count <= apollo_counts.get(name, 0), (name, our_counts, apollo_counts)
    if scenario.requests is not None:
        assert {k: v for k, v in our_counts.items() if v} == scenario.requests


async def test_mutations_in_order(stack: Stack) -> None:
    query = (
        'mutation { a: addProduct(name: "1") { seq } b: addReview(body: "2") { seq } '
        'c: addProduct(name: "3") { seq } d: addReview(body: "4") { seq } }'
    )
    for mode in MODES:
        MUTATIONS.reset()
        result = await stack.gateways[mode].execute(query)
        assert MUTATIONS.entries == ["products:1", "reviews:2", "products:3", "reviews:4"]
        assert [result["data"][k]["seq"] for k in "abcd"] == [1, 2, 3, 4]


async def test_slow_subgraph_times_out_and_rest_is_returned(stack: Stack) -> None:
    RATINGS.mode = "slow"
    RATINGS.delay_s = 2.0
    for local in (IN_PROCESS, ()):
        gateway = Gateway.from_supergraph(
            stack.supergraph_sdl, local={n: stack.schemas[n] for n in local}, timeout=1.0
        )
        try:
            result = await gateway.execute("{ topProducts(first: 2) { upc name stars } }")
        finally:
            await gateway.aclose()
        assert result["data"] == {
            "topProducts": [
                {"upc": "1", "name": "Product 1", "stars": None},
                {"upc": "2", "name": "Product 2", "stars": None},
            ]
        }
        [error] = result["errors"]
        assert error["extensions"] == {"code": "SUBGRAPH_TIMEOUT", "serviceName": "ratings"}
        assert "ratings" in error["message"]


async def test_failures_are_masked(stack: Stack) -> None:
    RATINGS.mode = "down"
    result = await stack.gateways["local"].execute("{ topProducts(first: 1) { stars } }")
    text = repr(result)
    assert stack.urls["ratings"] not in text and "503" not in text and "service unavailable" not in text


async def test_full_introspection_same_as_apollo(stack: Stack) -> None:
    """The whole public API schema, as introspection shows it, is the one @apollo/gateway serves. (The
    introspection types and built-in directives themselves come from graphql-core and graphql-js, whose
    spec editions differ slightly: `@deprecated(reason:)` is non-null in graphql-core 3.3.)"""
    query = get_introspection_query(descriptions=True)
    async with httpx.AsyncClient(timeout=30) as client:
        theirs = (await client.post(stack.apollo_url, json={"query": query})).json()
    ours = await stack.gateways["local"].execute(query)

    def by_name(result: dict[str, Any]) -> dict[str, Any]:
        schema = result["data"]["__schema"]
        return {
            "types": {t["name"]: t for t in schema["types"] if not t["name"].startswith("__")},
            "directives": sorted(d["name"] for d in schema["directives"]),
            "roots": (schema["queryType"], schema["mutationType"], schema["subscriptionType"]),
        }

    assert by_name(ours) == by_name(theirs)
