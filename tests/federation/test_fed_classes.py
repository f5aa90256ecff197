"""The planner's failure classes A to M of issue 16, each on small JS subgraphs, against @apollo/gateway and Hive
Gateway on the same supergraph.

Every check asks Apollo and Hive first (subgraphs lenient), then ours with **strict subgraphs**: a subgraph asked
for a field its case lists under `strict` (one a cheaper plan gets elsewhere) answers with an error instead.
Where Apollo and Hive agree, their answer is the oracle: same `data`, errors at the same paths. Where they
disagree or are both wrong, the check carries the answer the Federation spec gives and says why (`why`), and
names the peers that are wrong (asserted, so we notice when they change). Our subgraph requests are never more
than Apollo's (than Hive's where only Hive is right), and pinned where the plan's shape is the point.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from fed_cases import Cases, data_and_error_paths, start_cases, stop_cases


@dataclass(frozen=True)
class Check:
    klass: str
    case: str
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    # our subgraph requests, when the plan's shape is the point
    requests: dict[str, int] | None = None
    # the spec's answer where the peers disagree or are wrong; `wrong` names the peers that miss it
    expected: dict[str, Any] | None = None
    wrong: tuple[str, ...] = ()
    why: str = ""
    # where errors are is part of the answer (else only whether there are any)
    error_paths: bool = False

    @property
    def id(self) -> str:
        return f"{self.klass}:{self.case}:{' '.join(self.query.split())[:60]}"


CHECKS = [
    # --- A. a fetch runs after the fetches that supply its inputs --------------------------------------------
    Check(
        "A",
        "a-requires-through-own-field",
        "{ posts { id byNovice } }",
        requests={"b": 2, "a": 1},
        expected={
            "data": {
                "posts": [
                    {"id": "p1", "byNovice": True},
                    {"id": "p2", "byNovice": False},
                    {"id": "p3", "byNovice": True},
                ]
            }
        },
        wrong=("hive",),
        why="Hive Gateway 2.15 plans it right and b answers byNovice, but Hive does not merge that answer "
        "(`Cannot return null for non-nullable field Post.byNovice`): the @requires path goes through b's own "
        "Post.author. Apollo and the spec: b gets author { yearsOfExperience } from a first, then answers.",
    ),
    Check("A", "a-requires-field-with-arguments", "{ feed { id topCommenter } }", requests={"c": 2, "d": 2}),
    Check(
        "A",
        "a-requires-field-with-arguments",
        "{ feed { id comments(limit: 1) { id authorId } topCommenter } }",
        expected={
            "data": {
                "feed": [
                    {"id": "p1", "comments": [{"id": "c1", "authorId": "a2"}], "topCommenter": "a2"},
                    {"id": "p2", "comments": [{"id": "c5", "authorId": "a1"}], "topCommenter": "a1"},
                    {"id": "p3", "comments": [], "topCommenter": None},
                ]
            }
        },
        wrong=("apollo",),
        why="@apollo/gateway 2.14 fetches comments(limit: 3) once for both the client and the @requires, so the "
        "client's comments(limit: 1) comes back with three comments; the client asked for one.",
    ),
    Check(
        "A",
        "a-compound-key-from-another-fetch",
        "{ bundle { products { id } price } }",
        requests={"a": 1, "b": 1, "c": 1},
    ),
    # --- B. one response key, two types: aliased in the subgraph operation ------------------------------------
    Check(
        "B",
        "b-same-key-different-types",
        "{ users { id } accounts { ... on User { id name } ... on Admin { id name } } }",
        requests={"a": 1, "b": 1},
    ),
    Check(
        "B",
        "b-same-key-different-types",
        "{ accounts { ... on User { id similar { ... on User { id } ... on Admin { id } } } "
        "... on Admin { id similar { ... on User { id } ... on Admin { id } } } } }",
        requests={"b": 1},
    ),
    # --- C. fragments impossible in the target subgraph are pruned ---------------------------------------------
    Check(
        "C",
        "c-impossible-fragment",
        "{ shelf { owner media { ... on Book { title } ... on Song { length } } } }",
        requests={"b": 1},
    ),
    # --- D. a path through the nearest entity ancestor ----------------------------------------------------------
    Check(
        "D",
        "d-entity-ancestor",
        "{ products { id category { id name details } } }",
        requests={"a": 1, "c": 1},
    ),
    # --- E. unsatisfiable selections are refused at planning ----------------------------------------------------
    Check("E", "e-external-without-provides", '{ node(id: "a1") { id } }', requests={}),
    Check("E", "e-external-without-provides", '{ node(id: "c1") { ... on Chat { id text } } }'),
    Check(
        "E",
        "e-resolvable-false",
        "{ node { note } }",
        requests={},
        expected={"data": None, "errors": [{"message": "cannot be planned"}]},
        wrong=("apollo",),
        why="Node.note exists only in b behind a `resolvable: false` key; @apollo/gateway answers "
        "`{node: null}` without an error, as if the node had been looked up. Nothing can resolve the field: the "
        "operation is refused (Hive Gateway too).",
    ),
    Check("E", "e-resolvable-false", "{ other { id note } }", requests={"b": 1}),
    # --- F. one @requires field with two argument sets ------------------------------------------------------------
    Check(
        "F",
        "f-requires-two-argument-sets",
        "{ products { upc usdLabel eurLabel } }",
        expected={
            "data": {
                "products": [
                    {"upc": "1", "usdLabel": "$100", "eurLabel": "90 EUR"},
                    {"upc": "2", "usdLabel": "$250", "eurLabel": "225 EUR"},
                ]
            }
        },
        wrong=("apollo",),
        why="A representation carries each field once (Federation spec: `_entities` receives the `@requires` "
        "fields as the field's value), so usdLabel's price(currency: USD) and eurLabel's price(currency: EUR) "
        "need two representations. @apollo/gateway fetches only the EUR price and sends it to both.",
    ),
    # --- G. runtime objects of an @inaccessible type --------------------------------------------------------------
    Check(
        "G",
        "g-inaccessible-runtime-type",
        "{ nodes { id ... on Post { title } } }",
        requests={"a": 1},
        expected={
            "data": {"nodes": [{"id": "p1", "title": "Hello"}, None]},
            "errors": [{"message": "resolved to a type that does not exist", "path": ["nodes", 1]}],
        },
        wrong=("apollo", "hive"),
        why="Secret is @inaccessible: the object is nulled (all agree), and a null that an error caused is "
        "reported as a field error (GraphQL spec, Handling Field Errors). @apollo/gateway puts it under "
        "extensions.valueCompletion, Hive Gateway reports nothing.",
    ),
    Check(
        "G",
        "g-inaccessible-runtime-type",
        '{ node(id: "s1") { id } }',
        requests={"a": 1},
        expected={
            "data": None,
            "errors": [{"message": "resolved to a type that does not exist", "path": ["node"]}],
        },
        wrong=("apollo",),
        why="As above, in a non-null position: the null propagates to `data`; @apollo/gateway reports the "
        "error only under extensions.valueCompletion.",
    ),
    # --- H. members the chosen subgraph cannot return are not asked from it -----------------------------------
    Check(
        "H",
        "h-members-differ-per-subgraph",
        "{ results { __typename ... on Book { title } ... on Movie { title } ... on Song { title } } }",
        requests={"a": 1},
        expected={
            "data": {
                "results": [
                    {"__typename": "Book", "title": "Dune"},
                    {"__typename": "Movie", "title": "Alien"},
                ]
            }
        },
        wrong=("apollo", "hive"),
        why="results is @shareable in a (Book | Movie) and b (Book | Song): either may serve it. Like "
        "@apollo/gateway we ask a (first in the supergraph) for the members a can return, Book and Movie; "
        "Apollo drops the Movie fragment and then fails on the Movie a returns (`Cannot return null for "
        "non-nullable field Movie.title`, data null). Hive Gateway asks b instead (Book, Song): as valid a "
        "source, another answer because these subgraphs deliberately disagree.",
    ),
    # --- I. @provides counts in the cost ---------------------------------------------------------------------
    Check(
        "I",
        "i-provides-in-the-cost",
        "{ reviews { id author { username } mentions { ... on Book { title } ... on Movie { name } } } }",
        requests={"reviews": 1},
    ),
    Check(
        "I",
        "i-provides-in-the-cost",
        "{ reviews { author { username email } } }",
        requests={"reviews": 1, "accounts": 1},
    ),
    # --- J. a value type split across subgraphs under an entity -----------------------------------------------
    Check("J", "j-value-type-split", "{ products { id dims { size weight } } }", requests={"a": 1, "b": 1}),
    # --- K. other keys and other subgraphs are tried --------------------------------------------------------
    Check(
        "K",
        "k-other-keys-and-subgraphs",
        "{ items { id stock owner } }",
        requests={"a": 1, "b": 1, "c": 1},
    ),
    Check(
        "K",
        "k-requires-does-not-stall",
        "{ orders { id shipping status } }",
        requests={"a": 1, "b": 1, "c": 1, "d": 1},
    ),
    # --- L. introspection inside root fragments ------------------------------------------------------------
    Check(
        "L",
        "b-same-key-different-types",
        "query { ...F } fragment F on Query { __schema { queryType { name } } }",
        requests={},
    ),
    Check(
        "L",
        "b-same-key-different-types",
        '{ ... on Query { __type(name: "Admin") { name } users { id } } }',
        requests={"a": 1},
    ),
    # --- M. errors --------------------------------------------------------------------------------------------
    Check(
        "M",
        "m-deduplicated-entity-errors",
        "{ posts { id author { id flaky } } }",
        requests={"a": 1, "b": 1},
        expected={
            "data": {
                "posts": [
                    {"id": "p1", "author": {"id": "a1", "flaky": None}},
                    {"id": "p2", "author": {"id": "a2", "flaky": "fine a2"}},
                    {"id": "p3", "author": {"id": "a1", "flaky": None}},
                ]
            },
            "errors": [
                {"message": "flaky failed for a1", "path": ["posts", 0, "author", "flaky"]},
                {"message": "flaky failed for a1", "path": ["posts", 2, "author", "flaky"]},
            ],
        },
        wrong=("hive",),
        error_paths=True,
        why="Author a1 appears twice; we send its representation once (so does Hive), and its error belongs to "
        "both places its value is null. Hive Gateway reports it twice at the first one (posts.0). "
        "@apollo/gateway sends the representation twice and reports both paths.",
    ),
    # --- run-time semantics of the directives composition carries ----------------------------------------------
    Check(
        "directives",
        "override-progressive",
        "{ products { id price stock } }",
        requests={"a": 1, "b": 1},
        expected={
            "data": {
                "products": [{"id": "1", "price": 10, "stock": 200}, {"id": "2", "price": 10, "stock": 200}]
            }
        },
        wrong=("apollo",),
        why="Progressive @override: Product.stock moves to b under `percent(100)` (every request), price under "
        "`beta` (off unless switched on). @apollo/gateway plans with every label off, so stock still comes from "
        "a; Apollo Router and Hive Gateway draw percent(N) labels per request, as we do.",
    ),
    Check(
        "directives",
        "context-from-ancestor",
        "{ ts { id u { id name field } } }",
        requests={"a": 2, "b": 1},
        expected={
            "data": {
                "ts": [
                    {"id": "t1", "u": {"id": "u1", "name": "name of u1", "field": "u1 in red"}},
                    {"id": "t2", "u": {"id": "u1", "name": "name of u1", "field": "u1 in blue"}},
                    {"id": "t3", "u": {"id": "u2", "name": "name of u2", "field": "u2 in red"}},
                ]
            }
        },
        wrong=("apollo", "hive"),
        why='U.field\'s argument `a` is @fromContext(field: "$ctx { prop }"): each U gets the prop of the T above '
        "it, so u1 is asked twice (red, blue). @apollo/gateway 2.14 refuses to load a supergraph using the context "
        "feature; Hive Gateway 2.15 loads it but never passes the argument (`u1 in undefined`).",
    ),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cases() -> AsyncIterator[Cases]:
    started = await asyncio.to_thread(start_cases)
    try:
        yield started
    finally:
        for gateway in started.gateways.values():
            await gateway.aclose()
        await asyncio.to_thread(stop_cases, started)


@pytest.mark.parametrize("check", CHECKS, ids=[c.id for c in CHECKS])
async def test_class(cases: Cases, check: Check) -> None:
    cases.strict(False)
    answers: dict[str, Any] = {}
    counts: dict[str, dict[str, int]] = {}
    for peer in ("apollo", "hive"):
        cases.reset()
        answers[peer] = await asyncio.to_thread(cases.peer, peer, check.case, check.query, check.variables)
        counts[peer] = cases.counts(check.case)
    if check.expected is None:
        assert agree(answers["apollo"], answers["hive"]), answers
        oracle = answers["apollo"]
    else:
        assert check.why, "say why the peers are not the oracle"
        oracle = check.expected
        for peer in ("apollo", "hive"):
            right = agree(answers[peer], oracle, paths=check.error_paths)
            assert right != (peer in check.wrong), (peer, answers[peer])
    cases.reset()
    cases.strict(True)
    try:
        ours = await cases.ours(check.case, check.query, check.variables)
    finally:
        cases.strict(False)
    ours_counts = cases.counts(check.case)
    assert agree(ours, oracle), (ours, oracle, cases.queries(check.case))
    peer_paths = {json.dumps(data_and_error_paths(answers[p])[1]) for p in ("apollo", "hive")}
    if check.expected is not None:
        peer_paths = {json.dumps(data_and_error_paths(oracle)[1])}
    if len(peer_paths) == 1 and all(e.get("path") for e in oracle.get("errors") or ()):
        assert json.dumps(data_and_error_paths(ours)[1]) in peer_paths, (ours, oracle)
    # never more requests than Apollo; where Apollo is wrong for lack of a fetch, than Hive where Hive is right;
    # where both are wrong, the pinned counts say what the plan costs
    baseline = next((p for p in ("apollo", "hive") if p not in check.wrong), None)
    if baseline is None:
        assert check.requests is not None, "pin the requests where no peer is right"
    else:
        for name, count in ours_counts.items():
            assert count <= counts[baseline].get(name, 0), (name, ours_counts, counts)
    if check.requests is not None:
        assert ours_counts == check.requests, (ours_counts, cases.queries(check.case))


def agree(one: dict[str, Any], other: dict[str, Any], *, paths: bool = False) -> bool:
    """Same data, and errors on both sides or on neither (where exactly gateways put them varies, unless
    `paths`)."""
    if paths:
        return data_and_error_paths(one) == data_and_error_paths(other)
    return one.get("data") == other.get("data") and bool(one.get("errors")) == bool(other.get("errors"))


def finished_before(node: Any, done: frozenset[str] = frozenset()) -> dict[str, frozenset[str]]:
    """For each fetch (by service), the services whose fetches certainly finished before it starts."""
    kind = node["kind"]
    if kind in ("Fetch", "Batch"):
        return {node["serviceName"]: done}
    if kind == "Flatten":
        return finished_before(node["node"], done)
    found: dict[str, frozenset[str]] = {}
    for child in node["nodes"]:
        inner = finished_before(child, done)
        found.update(inner)
        if kind == "Sequence":
            done = done | frozenset(inner)
    return found


async def test_k_one_requires_does_not_hold_back_unrelated_fetches(cases: Cases) -> None:
    """c's shipping needs weight (a) and zone (b); d's status needs nothing but the order: d runs beside b and
    c, not after them (a fixed sequence of stages would make it wait)."""
    plan = cases.gateways["k-requires-does-not-stall"].plan("{ orders { id shipping status } }")
    before = finished_before(plan.to_json()["node"])
    assert before["c"] >= {"a", "b"}
    assert before["d"] == {"a"}


async def test_progressive_override_label_switched_on_by_the_request(cases: Cases) -> None:
    """A label other than percent(N) is on when the request's context lists it (Apollo Router takes these from
    a coprocessor; we take them from the context the HTTP layer builds): price then comes from b alone."""
    gateway = cases.gateways["override-progressive"]
    query = "{ products { id price } }"
    cases.reset()
    on = await gateway.execute(query, context={"override_labels": ["beta"]})
    assert on["data"] == {"products": [{"id": "1", "price": 20}, {"id": "2", "price": 20}]}
    assert cases.counts("override-progressive") == {"a": 1, "b": 1}
    assert [q for s, q in cases.queries("override-progressive") if s == "a" and "price" in q] == []
    cases.reset()
    off = await gateway.execute(query)
    assert off["data"] == {"products": [{"id": "1", "price": 10}, {"id": "2", "price": 10}]}
    assert cases.counts("override-progressive") == {"a": 1}
    # plans are cached per set of labels: both stay
    assert gateway.plan(query) is not gateway.plan(query, override_labels=frozenset({"beta"}))


async def test_context_values_grouped_in_one_request(cases: Cases) -> None:
    """Objects with the same context value share an `_entities` call; different values get their own,
    aliased, in one request."""
    cases.reset()
    await cases.ours("context-from-ancestor", "{ ts { u { field } } }")
    [(_, text)] = [(s, q) for s, q in cases.queries("context-from-ancestor") if "_entities" in q]
    assert "_0: _entities" in text and "_1: _entities" in text and "_2: _entities" not in text
