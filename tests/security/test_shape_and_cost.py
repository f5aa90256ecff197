"""The limits checked before a GraphQL operation runs (no database): the document's shape measured without
expanding fragments, the cost estimate, and every documented and benchmarked query passing the defaults."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from graphql import DocumentNode, GraphQLSchema, SelectionSetNode, parse

from atlas4d.core.schema import build_core_schema
from atlas4d.errors import QueryTooComplex
from atlas4d.modules.registry import discover
from atlas4d.platform import build_gateway
from atlas4d.settings import Settings
from atlas4d.web import shape
from atlas4d.web.cost import CostAnalyzer
from atlas4d.web.cost_model import CostModel, cost_model_from_sdl
from atlas4d.web.guard import MAX_MERGE_WORK, OperationGuard, check_input

ROOT = Path(__file__).resolve().parents[2]


def fragment_bomb(levels: int, leaf: str = "__typename") -> str:
    """Issue 12's repro: F_i = { ...F_{i-1} ...F_{i-1} }."""
    fragments = [f"fragment F0 on Query {{ {leaf} }}"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return f"query Q {{ ...F{levels} }} " + " ".join(fragments)


@pytest.fixture(scope="module")
def core() -> GraphQLSchema:
    return build_core_schema()._schema


@pytest.fixture(scope="module")
def gateway_schema() -> tuple[GraphQLSchema, str]:
    gateway = build_gateway(Settings(database_url=None), [m.module for m in discover().values()])
    return gateway.supergraph.api_schema, gateway.supergraph.sdl


def count_selection_sets(document: DocumentNode) -> int:
    seen = 0
    pending: list[Any] = list(document.definitions)
    while pending:
        node = pending.pop()
        selection_set = getattr(node, "selection_set", None)
        if isinstance(selection_set, SelectionSetNode):
            seen += 1
            pending.extend(selection_set.selections)
    return seen


def test_fragment_bomb_is_counted_not_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    document = parse(fragment_bomb(20, "entity(id: 1) { id }"))
    calls = 0
    original = shape._selection_shape

    def counting(node: Any, fragments: Any) -> Any:
        nonlocal calls
        calls += node is not None
        return original(node, fragments)

    monkeypatch.setattr(shape, "_selection_shape", counting)
    measured = shape.measure(document)
    assert measured.fields == 2 * 2**20  # `entity` and `id`, 2^20 times each
    assert measured.depth == 2
    # linear: each selection set of the document is measured once, however often it is spread
    assert calls == count_selection_sets(document)
    refused = OperationGuard(build_core_schema()._schema, Settings(database_url=None)).check_document(
        document
    )
    assert isinstance(refused, QueryTooComplex) and "2,097,152 fields" in refused.message


def test_aliases_and_depth_count_fragments_where_spread() -> None:
    doc = parse(
        "query { a: entity(id: 1) { ...E } b: entity(id: 2) { ...E } } "
        "fragment E on Entity { x: id observations { entity { y: id } } }"
    )
    measured = shape.measure(doc)
    assert (measured.aliases, measured.depth, measured.fields) == (2 + 2 * 2, 4, 2 * 5)


def test_a_long_fragment_chain_needs_no_recursion() -> None:
    chain = " ".join(f"fragment C{i} on Entity {{ ...C{i + 1} }}" for i in range(1500))
    doc = parse(
        "{ entity(id: 1) { ...C0 } } " + chain + " fragment C1500 on Entity { id }", max_tokens=20_000
    )
    assert sys.getrecursionlimit() < 1500
    assert shape.measure(doc).fields == 2


def test_fragment_cycles_are_left_to_validation() -> None:
    doc = parse("{ ...A } fragment A on Query { ...B __typename } fragment B on Query { ...A }")
    assert shape.measure(doc).fields == 1


@pytest.mark.parametrize(
    ("document", "work"),
    [
        ("{ entity(id: 1) { " + " ".join(["id"] * 130) + " } }", 130 * 129 // 2),
        (  # 50 conflicting copies of a field with 3 subfields: each pair costs 1 + 3 + 3
            "{ " + " ".join(f'entity(id: "{i}") {{ id name kind }}' for i in range(50)) + " }",
            50 * 49 // 2 * 7,
        ),
        (  # 45 fragments of 5 fields side by side: each pair costs 5 + 5, and each is compared to the set once
            "{ entity(id: 1) { "
            + " ".join(f"...X{i}" for i in range(45))
            + " } } "
            + " ".join(f"fragment X{i} on Entity {{ id name kind createdAt sourceType }}" for i in range(45)),
            44 * 45 * 5 + 45 * 5,
        ),
    ],
    ids=["one-field-130-times", "50-conflicting-fields", "45-fragments-side-by-side"],
)
def test_field_merging_work_is_bounded_before_validation(document: str, work: int) -> None:
    """graphql-core's field-merging rule is quadratic: documents like these took it seconds at 1,000 copies."""
    measured = shape.measure(parse(document))
    assert measured.merge_work == work
    assert work > MAX_MERGE_WORK
    refused = OperationGuard(build_core_schema()._schema, Settings(database_url=None)).check_document(
        parse(document)
    )
    assert isinstance(refused, QueryTooComplex) and "comparisons to validate" in refused.message


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        (  # benchmark Q1: the connection (1) + 1,000 observations with their entity
            "{ observations(first: 1000) { nodes { id time geometry entity { name } } } }",
            {},
            1 + 1000 * 2,
        ),
        ("{ entities(first: 100) { nodes { id observations(first: 10) { id } } } }", {}, 1 + 100 * 11),
        (  # issue 12's nested lists
            "{ observations(first: 10000) { nodes { entity { observations(first: 10000) { id } } } } }",
            {},
            1 + 10_000 * (1 + 1 + 10_000),
        ),
        ("query($n: Int) { entities(first: $n) { nodes { id } } }", {"n": 7}, 8),
        ("query($n: Int = 3) { entities(first: $n) { nodes { id } } }", {}, 4),
        ("{ entities { nodes { id } } }", {}, 1 + 100),  # no `first`: the default page size
        ("{ entities(first: 99999) { nodes { id } } }", {}, 1 + 10_000),  # refused later: PAGE_TOO_LARGE
        ("{ entities(first: 10) { edges { node { id } } pageInfo { endCursor } } }", {}, 1 + 10 * 2 + 1),
        ("{ observation(id: 1) { anomalies { id } } }", {}, 1 + 10),  # an unsliced list: 10
        ("{ observationsGeoJSON(limit: 500) }", {}, 500),  # one per feature of the collection
        ('mutation { createEntities(entities: [{kind: "x"}]) { id } }', {}, 10 + 10),
        (
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id latestObservation { id } } } }",
            {"r": [{"__typename": "Entity", "id": "x"}] * 40},
            40 * 2,
        ),
        (
            "{ ...Q ...Q } fragment Q on Query { entities(first: 5) { nodes { id } } }",
            {},
            2 * (1 + 5),  # a fragment counts each time it is spread
        ),
    ],
)
def test_cost(core: GraphQLSchema, query: str, variables: dict[str, Any], cost: int) -> None:
    analyzer = CostAnalyzer(core, default_list_size=100, max_list_size=10_000)
    assert analyzer.cost(parse(query), None, variables) == cost


def test_cost_remembered_per_document_and_operation_never_the_decision(core: GraphQLSchema) -> None:
    """The guard remembers an operation's cost per parsed document (no variables) but asks for the limit each
    time: the same cached document is refused for one principal and let through for another."""
    guard = OperationGuard(core, Settings())
    limits = iter([150, 25_000, 150])
    guard.max_cost = lambda _request: next(limits)
    calls: list[str | None] = []
    analyze = guard.analyzer.cost

    def counting(document: DocumentNode, name: str | None, variables: Any) -> int:
        calls.append(name)
        return analyze(document, name, variables)

    guard.analyzer.cost = counting  # type: ignore[method-assign]
    two = parse(
        "query S { entities(first: 5) { nodes { id latestObservation { id } } } } "
        "query L { entities(first: 100) { nodes { id latestObservation { id } } } }"
    )
    assert guard.check_request(None, two, "L", None) is not None  # 201 > 150
    assert guard.check_request(None, two, "L", None) is None  # same cost, a larger limit
    refused = guard.check_request(None, two, "L", None)
    assert isinstance(refused, QueryTooComplex) and refused.extensions["cost"] == 201
    assert calls == ["L"]  # costed once
    assert guard.cost(two, "S", None) == 11 and calls == ["L", "S"]  # per operation
    variable = parse("query($n: Int) { entities(first: $n) { nodes { id } } }")
    assert [guard.cost(variable, None, {"n": n}) for n in (5, 100)] == [6, 101]  # variables: costed each time
    assert guard.cost(parse("{ entities(first: 5) { nodes { id } } }"), None, None) == 6  # another document
    assert len(calls) == 5


def test_a_fragment_under_connections_of_different_sizes(core: GraphQLSchema) -> None:
    query = (
        "{ a: entities(first: 2) { ...N } b: entities(first: 30) { ...N } } "
        "fragment N on EntityConnection { nodes { id latestObservation { id } } }"
    )
    assert CostAnalyzer(core).cost(parse(query), None, None) == (1 + 2 * 2) + (1 + 30 * 2)


COST_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", {name: "@cost", as: "@price"}, "@listSize"])
type Query {
  items(first: Int, after: String): ItemPage! @listSize(slicingArguments: ["first"], sizedFields: ["rows"])
  top: [Item!]! @listSize(assumedSize: 3)
  heavy(region: String @price(weight: 50)): Int @price(weight: 7)
  search(q: Filter): [Item!]! @listSize(assumedSize: 2)
}
input Filter { text: String @price(weight: 4) }
type ItemPage { rows: [Item!]! total: Int }
type Item @price(weight: 5) { id: ID! score: Float @price(weight: 2) }
"""


def test_ibm_cost_directives_from_sdl() -> None:
    from graphql import build_schema

    schema = build_schema(
        COST_SDL.replace(
            'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", {name: "@cost", as: "@price"}, "@listSize"])',
            "directive @price(weight: Int!) on FIELD_DEFINITION | OBJECT | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION\n"
            "directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], "
            "requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION",
        )
    )
    model = cost_model_from_sdl(COST_SDL)
    analyzer = CostAnalyzer(schema, model)
    assert analyzer.cost(parse("{ items(first: 4) { rows { id score } total } }"), None, None) == 1 + 4 * (
        5 + 2
    )
    assert analyzer.cost(parse("{ top { id } }"), None, None) == 3 * 5
    assert analyzer.cost(parse('{ heavy(region: "eu") }'), None, None) == 50 + 7
    assert analyzer.cost(parse('{ search(q: {text: "a"}) { id } }'), None, None) == 4 + 2 * 5


def test_cost_directives_as_apollo_composes_them(gateway_schema: tuple[GraphQLSchema, str]) -> None:
    """Apollo's supergraph: `@link(url: ".../cost/v0.1", import: ["@listSize"])`, @cost(weight: Int!) unprefixed."""
    supergraph = (
        'schema @link(url: "https://specs.apollo.dev/link/v1.0") '
        '@link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"]) { query: Query }\n'
        "type Query { items(first: Int = 10): [Item!]! "
        '@listSize(slicingArguments: ["first"], requireOneSlicingArgument: false) }\n'
        "type Item @cost(weight: 3) { id: ID! price: Int @cost(weight: 5) }"
    )
    model = cost_model_from_sdl(supergraph)
    assert model.type_weights == {"Item": 3}
    assert model.field_weights == {("Item", "price"): 5}
    assert model.list_sizes[("Query", "items")].slicing_arguments == ("first",)


def load_doc_queries() -> Any:
    spec = importlib.util.spec_from_file_location("doc_queries", ROOT / "tests" / "db" / "doc_queries.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("doc_queries", module)
    spec.loader.exec_module(module)
    return module


def documented_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """README, docs/, graphql/examples and the benchmark's queries, as clients send them."""
    doc_queries = load_doc_queries().doc_queries
    out: list[tuple[str, str, dict[str, Any]]] = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        out += [(q.source, q.text, q.variables) for q in doc_queries(page)]
    out += [
        (str(p.relative_to(ROOT)), p.read_text(), {}) for p in sorted((ROOT / "graphql/examples").glob("*"))
    ]
    sys.path.insert(0, str(ROOT))
    try:
        from bench.queries import q1, q2, q3
    finally:
        sys.path.remove(str(ROOT))
    for make in (q1, q2, q3):
        body = make().requests["atlas4d"].body
        assert body is not None
        out.append((f"bench {make.__name__}", body["query"], body.get("variables") or {}))
    return out


def test_every_documented_and_benchmarked_query_passes_the_default_limits(
    gateway_schema: tuple[GraphQLSchema, str],
) -> None:
    api, sdl = gateway_schema
    settings = Settings(database_url=None)
    gateway_guard = OperationGuard(api, settings, cost_model_from_sdl(sdl))
    core_guard = OperationGuard(build_core_schema()._schema, settings, CostModel())
    operations = documented_operations()
    assert len(operations) >= 50
    costs = []
    for source, text, variables in operations:
        document = parse(text, max_tokens=settings.max_tokens)
        guard = core_guard if "_entities" in text or "_service" in text else gateway_guard
        assert guard.check_document(document) is None, source
        for name in [d.name.value for d in document.definitions if getattr(d, "name", None)] or [None]:
            if name is not None and not any(
                getattr(d, "operation", None) is not None and d.name is not None and d.name.value == name
                for d in document.definitions
            ):
                continue
            assert guard.check_request(None, document, name, variables) is None, source
            costs.append((guard.analyzer.cost(document, name, variables), source))
    # the default leaves room over the costliest documented query
    assert max(costs)[0] * 2 <= settings.max_cost, max(costs)


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"kinds": ["vehicle"] * 400_000}, "BATCH_TOO_LARGE"),
        ({"a": [[1] * 9_000] * 60}, "BATCH_TOO_LARGE"),  # 540,000 values in lists of allowed length
        ({"m": {"a": {}}}, None),
        ({"m": (lambda: (d := {}, [d := {"a": d} for _ in range(330)])[1][-1])()}, "BAD_USER_INPUT"),
    ],
    ids=["400k-kinds", "540k-values", "shallow", "nested-330"],
)
def test_variables(variables: dict[str, Any], code: str | None) -> None:
    problem = check_input(variables, Settings(database_url=None))
    assert (problem.code if problem else None) == code
