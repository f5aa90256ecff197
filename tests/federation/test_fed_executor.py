"""Executor properties: one _entities request per subgraph per step, representations de-duplicated, no JSON
round trip for in-process subgraphs."""

from __future__ import annotations

import copy
from typing import Any

from fed_stack import Stack
from graphql import DocumentNode

from atlas4d.federation.gateway import Gateway
from atlas4d.federation.transport import LocalSubgraph, SubgraphResponse


class Spy(LocalSubgraph):
    """An in-process subgraph that records what it was sent."""

    calls: list[dict[str, Any]]

    async def fetch(
        self,
        document: DocumentNode,
        text: str,
        variables: dict[str, Any],
        operation_name: str | None,
        context: Any,
    ) -> SubgraphResponse:
        self.calls.append(copy.deepcopy(variables))  # subgraphs may consume what they are handed
        return await super().fetch(document, text, variables, operation_name, context)


def spied(stack: Stack) -> tuple[Gateway, dict[str, Spy]]:
    gateway = Gateway.from_supergraph(
        stack.supergraph_sdl, local={n: stack.schemas[n] for n in ("products",)}
    )
    spies = {}
    for name in ("products", "reviews", "inventory"):
        spy = Spy(name, gateway.subgraphs[name].schema if name == "products" else _schema(stack, name))
        spy.calls = []
        gateway.subgraphs[name] = spies[name] = spy
    gateway.executor.subgraphs = gateway.subgraphs
    return gateway, spies


def _schema(stack: Stack, name: str) -> Any:
    return stack.schemas[name]._schema


async def test_representations_deduplicated_in_one_request(stack: Stack) -> None:
    gateway, spies = spied(stack)
    try:
        result = await gateway.execute("{ topReviews { product { name } } }")
        assert "errors" not in result
        # Four reviews of three products: one request, three representations, in first-seen order.
        [call] = spies["products"].calls
        assert call["representations"] == [
            {"__typename": "Product", "upc": "1"},
            {"__typename": "Product", "upc": "2"},
            {"__typename": "Product", "upc": "4"},
        ]
        names = [r["product"]["name"] for r in result["data"]["topReviews"]]
        assert names == ["Product 1", "Product 1", "Product 2", "Product 4"]
    finally:
        await gateway.aclose()


async def test_in_process_representations_are_python_objects(stack: Stack) -> None:
    gateway, spies = spied(stack)
    try:
        await gateway.execute("{ topProducts(first: 2) { delivery } }")
        [call] = spies["inventory"].calls
        # The float stays a float: nothing went through JSON between gateway and subgraph.
        assert call["representations"][0]["dimensions"] == {"size": "large", "weight": 1.5}
        assert isinstance(call["representations"][1]["dimensions"]["weight"], float)
    finally:
        await gateway.aclose()


async def test_one_entities_request_per_subgraph_per_step(stack: Stack) -> None:
    gateway, spies = spied(stack)
    try:
        query = "{ topProducts(first: 6) { reviews { body } shippingEstimate inStock delivery } }"
        result = await gateway.execute(query)
        assert "errors" not in result
        # products' root fetch already supplies shippingEstimate's @requires inputs, so `reviews` and
        # `shippingEstimate` share one reviews call; inventory gets one call for both `inStock` and `delivery`.
        [reviews] = spies["reviews"].calls
        assert reviews["representations"][0] == {
            "__typename": "Product",
            "upc": "1",
            "price": 100,
            "weight": 3,
        }
        [inventory] = spies["inventory"].calls
        assert len(inventory["representations"]) == 6
        assert set(inventory["representations"][0]) == {"__typename", "sku", "pkg", "dimensions"}
    finally:
        await gateway.aclose()


async def test_gateway_from_local_schemas_and_remote_urls(stack: Stack) -> None:
    """The wiring the main server uses: compose local Strawberry schemas with remote subgraphs, serve it."""
    local = {n: stack.schemas[n] for n in ("products", "reviews", "inventory")}
    remote = {n: stack.urls[n] for n in ("ratings", "accounts")}
    gateway = Gateway.from_subgraphs(
        local, remote, local_url="http://127.0.0.1:4000/subgraphs/{name}/graphql"
    )
    try:
        assert 'url: "http://127.0.0.1:4000/subgraphs/products/graphql"' in gateway.supergraph.sdl
        query = "{ topProducts(first: 2) { name stars reviews { author { name } } } }"
        ours = await gateway.execute(query)
        assert ours == await stack.gateways["remote"].execute(query)
        assert ours["data"]["topProducts"][0]["reviews"][0]["author"]["name"] == "Ada Lovelace"
        assert gateway.subgraphs["products"].requests == 1  # in-process
    finally:
        await gateway.aclose()
