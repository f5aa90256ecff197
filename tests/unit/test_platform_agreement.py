"""The platform's shortcut (run the client's document on the one in-process subgraph that serves it) is
only taken when that subgraph would coerce and answer the document exactly as the API schema: same field
types, and now also the same argument types and defaults, and the same input types (variables)."""

from __future__ import annotations

import pytest
from graphql import build_schema

from atlas4d.modules.airspace import module as airspace
from atlas4d.modules.mobility import module as mobility
from atlas4d.modules.telecom import module as telecom
from atlas4d.modules.vision import module as vision
from atlas4d.platform import agrees_with_api, build_gateway
from atlas4d.settings import Settings

API = """
enum Order { ASC DESC }
input Window { from: String, to: String = "z", last: Int }
type Item { id: ID!, name: String, tags(first: Int = 10, order: Order = ASC, window: Window): [String!]! }
type Query { items(first: Int, filter: Window): [Item!]! }
"""


def sub(api: str, old: str, new: str) -> str:
    assert old in api
    return api.replace(old, new)


def test_identical_schemas_agree() -> None:
    assert agrees_with_api(build_schema(API), build_schema(API))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("items(first: Int,", "items(first: Int!,"),  # an argument's type
        ("tags(first: Int = 10,", "tags(first: Int = 20,"),  # an argument's default
        ("order: Order = ASC", "order: Order = DESC"),  # an enum default
        (
            "tags(first: Int = 10, order: Order = ASC, window: Window)",
            "tags(first: Int = 10, order: Order = ASC)",
        ),
        ('to: String = "z"', 'to: String = "y"'),  # an input field's default (variables and literals)
        ("last: Int }", "last: Float }"),  # an input field's type
        ("from: String,", "from: String!,"),
        ("name: String,", "name: String!,"),  # a field's type, as before
    ],
)
def test_any_difference_in_what_a_client_may_send_disagrees(old: str, new: str) -> None:
    assert not agrees_with_api(build_schema(API), build_schema(sub(API, old, new)))


def test_extra_optional_arguments_of_the_subgraph_are_harmless() -> None:
    extra = sub(
        API, "items(first: Int, filter: Window)", "items(first: Int, filter: Window, debug: Boolean = false)"
    )
    assert agrees_with_api(build_schema(API), build_schema(extra))


def test_the_platforms_own_subgraphs_agree() -> None:
    """Core and every reference module keep the shortcut (a default printed differently by Strawberry and by
    the composed API schema would silently turn it off)."""
    gateway = build_gateway(Settings(), [airspace, mobility, telecom, vision])
    assert {name: sub.passthrough for name, sub in gateway.subgraphs.items()} == dict.fromkeys(
        gateway.subgraphs, True
    )  # type: ignore[attr-defined]
