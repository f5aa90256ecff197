"""Class M of issue 16: how the gateway reports what goes wrong (the peer comparisons are in test_fed_classes).

- an unexpected exception while calling a subgraph is `INTERNAL` with the request id, logged under that id by
  the `atlas4d.federation` logger — never "could not be reached";
- an error without a path does not stand in for the spec's "Cannot return null" errors;
- merging a shorter list keeps the items a later fetch reads;
- an exception while shaping the response is a typed JSON error, over HTTP too (not a plain-text 500).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fed_stack import Stack
from graphql import DocumentNode, build_schema, parse

from atlas4d.federation import executor
from atlas4d.federation.app import create_app
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.planner.operation import read_operation
from atlas4d.federation.response import shape_response
from atlas4d.federation.transport import LocalSubgraph, SubgraphResponse


class Broken(LocalSubgraph):
    """An in-process subgraph whose call fails with a bug, not a transport failure."""

    async def fetch(
        self,
        document: DocumentNode,
        text: str,
        variables: dict[str, Any],
        operation_name: str | None,
        context: Any,
    ) -> SubgraphResponse:
        self.requests += 1
        raise KeyError("a bug in a subgraph adapter")


def gateway_with_broken(stack: Stack, name: str) -> Gateway:
    gateway = Gateway.from_supergraph(
        stack.supergraph_sdl, local={n: stack.schemas[n] for n in ("products",)}
    )
    gateway.subgraphs[name] = Broken(name, stack.schemas["reviews"]._schema)
    gateway.executor.subgraphs = gateway.subgraphs
    return gateway


async def test_unexpected_exception_is_internal_and_logged_with_the_request_id(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = gateway_with_broken(stack, "ratings")
    try:
        with caplog.at_level(logging.ERROR, logger="atlas4d.federation"):
            result = await gateway.execute(
                "{ topProducts(first: 2) { name stars } }", context={"request_id": "req-42"}
            )
    finally:
        await gateway.aclose()
    # the rest of the data is there; the failed part is null with one typed error
    assert result["data"] == {
        "topProducts": [{"name": "Product 1", "stars": None}, {"name": "Product 2", "stars": None}]
    }
    [error] = result["errors"]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-42", "serviceName": "ratings"}
    assert error["message"] == "Internal server error (request id req-42)"
    assert "reached" not in error["message"] and "KeyError" not in repr(result)
    [record] = [r for r in caplog.records if r.name == "atlas4d.federation"]
    assert "req-42" in record.getMessage() and "ratings" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_error_without_a_path_does_not_hide_non_null_errors() -> None:
    schema = build_schema("type Query { item: Item } type Item { name: String! note: String }")
    operation = read_operation(parse("{ item { name note } }"), None)
    unreachable = {
        "message": 'Subgraph "x" could not be reached.',
        "extensions": {"code": "SUBGRAPH_UNAVAILABLE"},
    }
    data, errors = shape_response(schema, operation, {"item": {"name": None, "note": "n"}}, {}, [unreachable])
    assert data == {"item": None}
    assert errors == [
        unreachable,
        {"message": "Cannot return null for non-nullable field Item.name.", "path": ["item", "name"]},
    ]
    # an error at the path (or inside it) does explain the null: no second error there
    at_path = {"message": "boom", "path": ["item", "name"]}
    _, errors = shape_response(schema, operation, {"item": {"name": None}}, {}, [at_path])
    assert errors == [at_path]


def test_merging_a_shorter_list_keeps_what_later_fetches_read() -> None:
    schema = build_schema("type Query { a: Int }")
    target: dict[str, Any] = {
        "items": [{"id": 1, "key": "k1"}, {"id": 2, "key": "k2"}, {"id": 3, "key": "k3"}]
    }
    executor._merge(target, {"items": [{"name": "one"}]}, schema)
    assert target["items"] == [
        {"id": 1, "key": "k1", "name": "one"},
        {"id": 2, "key": "k2"},
        {"id": 3, "key": "k3"},
    ]
    executor._merge(target, {"items": [{}, {}, {}, {"id": 4}]}, schema)
    assert [item["id"] for item in target["items"]] == [1, 2, 3, 4]


async def test_exception_while_shaping_is_a_typed_json_error(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_shaping(*args: Any) -> Any:
        raise RuntimeError("shaping bug")

    monkeypatch.setattr(executor, "shape_response", broken_shaping)
    gateway = Gateway.from_supergraph(
        stack.supergraph_sdl, local={n: stack.schemas[n] for n in ("products",)}
    )
    app = create_app(gateway)
    with caplog.at_level(logging.ERROR, logger="atlas4d.federation"):
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                response = await client.post(
                    "/graphql",
                    json={"query": "{ topProducts(first: 1) { name } }"},
                    headers={"x-request-id": "r-7"},
                )
    assert response.headers["content-type"].startswith("application/")
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL" and error["extensions"]["requestId"] == "r-7"
    assert "shaping bug" not in response.text
    assert any(
        "r-7" in r.getMessage() and r.exc_info for r in caplog.records if r.name == "atlas4d.federation"
    )


async def test_a_transformed_document_is_planned_as_given(stack: Stack) -> None:
    """What an authorization step before planning needs: the same query text, a document without some
    fields, planned and answered without them (and the plan of the untouched text unaffected)."""
    gateway = Gateway.from_supergraph(
        stack.supergraph_sdl, local={n: stack.schemas[n] for n in ("products",)}
    )
    query = "{ topProducts(first: 1) { name price } }"
    try:
        reduced = await gateway.execute(query, document=parse("{ topProducts(first: 1) { name } }"))
        whole = await gateway.execute(query)
    finally:
        await gateway.aclose()
    assert reduced == {"data": {"topProducts": [{"name": "Product 1"}]}}
    assert whole == {"data": {"topProducts": [{"name": "Product 1", "price": 100}]}}
