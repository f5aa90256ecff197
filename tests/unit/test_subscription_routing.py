"""The subscription router of /graphql validates a document against the in-process subgraphs once, not once
per subscriber (it was half of a subscribe's CPU with 1,000 clients sending one query), and its cached answer
is the answer it computes."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLSchema, parse

import atlas4d.platform as platform
from atlas4d.modules.mobility import module as mobility
from atlas4d.platform import build_gateway, local_subscription_router
from atlas4d.settings import Settings

LIVE = "subscription($f: ObservationFilter) { observationAdded(filter: $f) { id lon lat } }"
NOWHERE = "subscription { observationAdded { id } nosuchField }"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = platform.validate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(platform, "validate", counting)
    return calls


def test_a_document_is_routed_once_and_the_cache_agrees(counted: list[int]) -> None:
    route = local_subscription_router(build_gateway(Settings(), [mobility]))
    document = parse(LIVE)
    first = route(document)
    assert isinstance(first, GraphQLSchema)
    after_first = counted[0]
    assert after_first >= 1
    assert all(route(document) is first for _ in range(50))
    assert counted[0] == after_first  # 50 more subscribers, no validation
    fresh = route(parse(LIVE))  # another document object (another query text): decided anew, same answer
    assert fresh is first and counted[0] > after_first


def test_a_refusal_is_cached_too(counted: list[int]) -> None:
    route = local_subscription_router(build_gateway(Settings(), [mobility]))
    document = parse(NOWHERE)
    answer = route(document)
    assert isinstance(answer, str) and "no single subgraph" in answer
    calls = counted[0]
    assert route(document) == answer and counted[0] == calls


def test_the_cache_is_bounded(counted: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "ROUTE_CACHE_SIZE", 4)
    route = local_subscription_router(build_gateway(Settings(), [mobility]))
    documents = [parse(LIVE) for _ in range(10)]
    for document in documents:
        route(document)
    cells = [c.cell_contents for c in route.__closure__ or () if isinstance(c.cell_contents, dict)]
    assert cells and len(cells[0]) == 4
    assert route(documents[-1]) is route(documents[0])  # the oldest went, and comes back with the same answer
