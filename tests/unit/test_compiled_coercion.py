"""The compiled coercion of big list variables (atlas4d.web.coerce, used by FastExecutor.build) against
graphql-core's stock coercion: the same coerced values, and for bad input the very same errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
from graphql import GraphQLError, GraphQLSchema, parse
from graphql.execution.values import get_variable_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas4d.core.schema import build_core_schema
from atlas4d.web import coerce
from atlas4d.web.fast_executor import FastExecutor

MUTATION = parse(
    "mutation($o: [ObservationInput!]!, $a: Boolean) { ingestObservations(observations: $o, "
    "autoCreateEntities: $a) { accepted } }"
)
ENTITIES = parse("mutation($e: [EntityInput!]) { createEntities(entities: $e) { id } }")


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_core_schema()._schema


floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.text(max_size=4),
    st.none(),
)
texts = st.one_of(
    st.text(max_size=8), st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.text(), max_size=2)
)
times = st.one_of(
    st.sampled_from(["2026-12-01T08:00:00Z", "2026-12-01T08:00:00+02:00", "2026-12-01T08:00:00", "noon", ""]),
    st.integers(),
    st.none(),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=4)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS: dict[str, Any] = {
    "time": times,
    "lon": floats,
    "lat": floats,
    "altitude": floats,
    "speed": floats,
    "heading": floats,
    "sourceType": texts,
    "entityId": texts,
    "entityKind": texts,
    "trackId": texts,
    "metadata": json_values,
}
VALID = {"time": "2026-12-01T08:00:00Z", "lon": 27.5, "lat": 42.5}


@st.composite
def items(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(
            st.one_of(st.none(), st.text(max_size=3), st.integers(), st.lists(st.integers(), max_size=2))
        )
    item = dict(VALID) if kind < 7 else {}
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=5, unique=True)):
        item[name] = draw(FIELDS[name])
    if draw(st.integers(0, 15)) == 0:
        item[draw(st.sampled_from(["colour", "time_", "Lon", "id"]))] = 1
    return item


def outcome(result: Any) -> Any:
    if isinstance(result, list):
        assert all(isinstance(e, GraphQLError) for e in result)
        return ("errors", [(e.message, e.path) for e in result])
    return ("values", result.coerced, {k: s.value for k, s in result.sources.items()})


def compiled(schema: GraphQLSchema, document: Any, variables: dict[str, Any]) -> Any:
    built = FastExecutor.build(schema, document, raw_variable_values=variables)
    return outcome(built if isinstance(built, list) else built.variable_values)


def same(a: Any, b: Any) -> bool:
    """Equality that counts NaN equal to NaN (a JSON scalar may carry one)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(items(), max_size=12), flag=st.one_of(st.none(), st.booleans(), st.just("yes")))
def test_compiled_coercion_agrees_with_graphql_core(
    schema: GraphQLSchema, monkeypatch: pytest.MonkeyPatch, values: list[Any], flag: Any
) -> None:
    monkeypatch.setattr(coerce, "MIN_ITEMS", 0)
    variables = {"o": values, "a": flag}
    operation = MUTATION.definitions[0]
    stock = outcome(get_variable_values(schema, operation.variable_definitions, variables))  # type: ignore[attr-defined]
    assert same(compiled(schema, MUTATION, variables), stock)


def test_a_big_valid_list_takes_the_compiled_path_and_a_bad_item_the_stock_one(schema: GraphQLSchema) -> None:
    good = [{**VALID, "speed": 3, "entityId": 7, "metadata": {"n": i}} for i in range(200)]
    fast = coerce.precoerce(schema, MUTATION, None, {"o": good})
    operation = MUTATION.definitions[0]
    stock = get_variable_values(schema, operation.variable_definitions, {"o": good})  # type: ignore[attr-defined]
    assert not isinstance(stock, list)
    assert (
        fast == {"o": stock.coerced["o"]}
        and fast["o"][0]["entityId"] == "7"
        and fast["o"][0]["altitude"] is None
    )
    bad = [*good[:150], {**VALID, "lat": "north"}, *good[150:]]
    assert coerce.precoerce(schema, MUTATION, None, {"o": bad}) == {}
    errors = FastExecutor.build(schema, MUTATION, raw_variable_values={"o": bad})
    assert isinstance(errors, list) and errors[0].message == (
        "Variable '$o' has invalid value at [150].lat: Float cannot represent non numeric value: 'north'"
    )


def test_other_list_inputs_agree_too(schema: GraphQLSchema, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coerce, "MIN_ITEMS", 0)
    operation = ENTITIES.definitions[0]
    for variables in (
        {"e": [{"kind": "vehicle", "properties": {"a": [1]}}, None]},
        {"e": [{"kind": "vehicle"}, {"name": "no kind"}]},
        {"e": None},
        {"e": [{"kind": "x", "id": 12, "sourceType": None}]},
    ):
        stock = outcome(get_variable_values(schema, operation.variable_definitions, variables))  # type: ignore[attr-defined]
        assert same(compiled(schema, ENTITIES, variables), stock), variables
