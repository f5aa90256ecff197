"""The fast executor must answer exactly like graphql-core's stock executor: a corpus of operations, run
through both, compared byte for byte (data, errors, paths, null propagation)."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any

import orjson
import pytest
import strawberry
from graphql import (
    GraphQLField,
    GraphQLFloat,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    execute,
    parse,
)
from graphql.execution.incremental import IncrementalExecutor
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas4d.web.fast_executor import FastExecutor, preloaded


@strawberry.enum
class Kind(Enum):
    CAR = "car"
    BUS = "bus"


NOT_LOADED: object = object()
BUDDY_CALLS: list[str] = []


@strawberry.interface
class Thing:
    id: strawberry.ID


@strawberry.type
class Owner(Thing):
    name: str


@strawberry.type
class Pal:  # no interface: the executor completes it without an is_type_of check, as core's Entity
    id: strawberry.ID
    name: str


@strawberry.type
class Item(Thing):
    t: datetime
    x: float
    maybe: float | None
    label: str
    count: int
    flag: bool
    kind: Kind
    tags: list[str]

    @strawberry.field
    def doubled(self) -> float:
        return self.x * 2

    @strawberry.field
    async def owner(self) -> Owner | None:
        return Owner(id=strawberry.ID("o" + self.id), name=self.label.upper()) if self.count % 2 else None

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError("resolver failed")

    _buddy: strawberry.Private[object] = NOT_LOADED

    @strawberry.field(metadata=preloaded("_buddy", NOT_LOADED))
    def buddy(self) -> Pal | None:
        # returns the preloaded value when there is one, as Observation.entity does
        BUDDY_CALLS.append(self.id)
        if self._buddy is not NOT_LOADED:
            return self._buddy  # type: ignore[return-value]
        return Pal(id=strawberry.ID("b" + self.id), name="computed") if self.count % 3 else None


def items(n: int, *, bad: dict[int, dict[str, Any]] | None = None) -> list[Item]:
    zones = [UTC, None, timezone(timedelta(hours=2)), timezone(timedelta(hours=-3, minutes=-30))]
    out = []
    for i in range(n):
        fields: dict[str, Any] = dict(
            id=strawberry.ID(str(i)),
            t=datetime(2026, 1, 1, 0, 0, i % 60, (i * 7919) % 1_000_000 if i % 3 else 0, tzinfo=zones[i % 4]),
            x=i / 7,
            maybe=None if i % 5 == 0 else -i * 1.5,
            label=f"item-{i}",
            count=i,
            flag=i % 2 == 0,
            kind=Kind.CAR if i % 2 else Kind.BUS,
            tags=["a", str(i)],
        )
        fields.update((bad or {}).get(i, {}))
        out.append(Item(**fields))
    return out


DATA: dict[str, list[Item]] = {}


@strawberry.type
class Query:
    @strawberry.field
    def items(self, set: str = "ok") -> list[Item]:
        return DATA[set]

    @strawberry.field
    def maybe_items(self) -> list[Item | None]:
        return [None, *DATA["ok"][:3], None]

    @strawberry.field
    def things(self) -> list[Thing]:
        return [*DATA["ok"][:3], Owner(id=strawberry.ID("x"), name="owner")]

    @strawberry.field
    def one(self) -> Item:
        return DATA["ok"][1]


SCHEMA = strawberry.Schema(query=Query, types=[Owner, Item])._schema
DATA["ok"] = items(40)
for i, it in enumerate(DATA["ok"]):  # a third preloaded with an owner, a third with None, a third not at all
    if i % 3 == 0:
        it._buddy = Pal(id=strawberry.ID(f"p{i}"), name="preloaded")
    elif i % 3 == 1:
        it._buddy = None
DATA["nan"] = items(5, bad={3: {"x": math.nan}})
DATA["null"] = items(5, bad={2: {"label": None}})
DATA["inf"] = items(5, bad={1: {"maybe": math.inf}})
DATA["int"] = items(5, bad={4: {"count": 2**40}})
DATA["text"] = items(5, bad={0: {"label": 12}, 1: {"x": 3}})

CORPUS = [
    "{ items { id t x maybe label count flag kind tags } }",
    "{ items { __typename id a: x b: x label } }",
    "{ items { id ...F } } fragment F on Item { t label ... on Item { flag } }",
    "query($s: Boolean!) { items { id x @skip(if: $s) label @include(if: $s) } }",
    "{ items { id doubled owner { id name __typename } } }",
    "{ items { id broken } }",
    '{ items(set: "nan") { id x } }',
    '{ items(set: "null") { id label } }',
    '{ items(set: "inf") { id maybe } }',
    '{ items(set: "int") { id count } }',
    '{ items(set: "text") { id label x } }',
    "{ maybeItems { id label } }",
    "{ things { id __typename ... on Item { label } ... on Owner { name } } }",
    "{ one { id t kind } x: items { id } }",
    "{ items { id buddy { id name __typename } } }",
    "{ items { id b: buddy { name } ...on Item { buddy { id } } } }",
]


def run(
    executor: type[IncrementalExecutor], schema: GraphQLSchema, query: str, variables: Any = None
) -> bytes:
    result = execute(schema, parse(query), variable_values=variables, executor_class=executor)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return orjson.dumps(result.formatted)  # type: ignore[union-attr]


@pytest.mark.parametrize("query", CORPUS)
@pytest.mark.parametrize("skip", [True, False])
def test_same_bytes_as_stock(query: str, skip: bool) -> None:
    variables = {"s": skip} if "$s" in query else None
    stock = run(IncrementalExecutor, SCHEMA, query, variables)
    fast = run(FastExecutor, SCHEMA, query, variables)
    assert fast == stock
    assert b'"data"' in stock  # every corpus operation executes (no validation failure hides a difference)


def test_errors_and_null_propagation_are_really_exercised() -> None:
    body = orjson.loads(run(FastExecutor, SCHEMA, '{ items(set: "null") { id label } }'))
    assert body["data"] is None and body["errors"][0]["path"] == ["items", 2, "label"]  # up to the root
    nan = orjson.loads(run(FastExecutor, SCHEMA, '{ items(set: "nan") { id x } }'))
    assert nan["errors"][0]["path"] == ["items", 3, "x"]


# graphql-core resolver-less fields over dict sources take the default resolver's key lookup
ROW = GraphQLObjectType(
    "Row", {"a": GraphQLField(GraphQLString), "b": GraphQLField(GraphQLNonNull(GraphQLFloat))}
)


def rows_schema(rows: list[Any]) -> GraphQLSchema:
    query = GraphQLObjectType("Query", {"rows": GraphQLField(GraphQLList(ROW), resolve=lambda *_: rows)})
    return GraphQLSchema(query)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "a": st.one_of(st.none(), st.text(max_size=5), st.integers(), st.floats()),
                    "b": st.one_of(st.none(), st.floats(), st.integers(-(2**60), 2**60), st.text(max_size=3)),
                }
            ),
        ),
        max_size=6,
    )
)
def test_dict_rows_match_stock(rows: list[Any]) -> None:
    schema = rows_schema(rows)
    query = "{ rows { a b __typename } }"
    assert run(FastExecutor, schema, query) == run(IncrementalExecutor, schema, query)


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC), st.timezones())),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_scalar_shortcuts_match_stock(t: datetime, x: float) -> None:
    DATA["h"] = items(1, bad={0: {"t": t, "x": x}})
    query = '{ items(set: "h") { t x } }'
    assert run(FastExecutor, SCHEMA, query) == run(IncrementalExecutor, SCHEMA, query)


def test_preloaded_objects_skip_the_resolver() -> None:
    BUDDY_CALLS.clear()
    run(IncrementalExecutor, SCHEMA, "{ items { buddy { name } } }")
    assert len(BUDDY_CALLS) == 40
    BUDDY_CALLS.clear()
    run(FastExecutor, SCHEMA, "{ items { buddy { name } } }")
    assert len(BUDDY_CALLS) == 13  # only the items nothing was preloaded for (i % 3 == 2)


# --- no hidden registries: preloading is declared per field, and permissions/extensions always run ------------

GUARD_CALLS: list[str] = []


class Denied(strawberry.permission.BasePermission):
    message = "not allowed"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        GUARD_CALLS.append("permission")
        return False


class Upper(strawberry.extensions.FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        GUARD_CALLS.append("extension")
        value = next_(source, info, **kwargs)
        return value.upper() if isinstance(value, str) else value


@strawberry.type
class Guarded:
    name: str = strawberry.field(extensions=[Upper()])
    _pal: strawberry.Private[object] = NOT_LOADED

    @strawberry.field(permission_classes=[Denied], metadata=preloaded("_pal", NOT_LOADED))
    def pal(self) -> Pal | None:
        return self._pal  # type: ignore[return-value]

    @strawberry.field(extensions=[Upper()], metadata=preloaded("_pal", NOT_LOADED))
    def pal2(self) -> Pal | None:
        return self._pal  # type: ignore[return-value]


@strawberry.type
class GuardQuery:
    @strawberry.field
    def guarded(self) -> list[Guarded]:
        return [Guarded(name=f"g{i}", _pal=Pal(id=strawberry.ID(str(i)), name="p")) for i in range(3)]


GUARDED = strawberry.Schema(query=GuardQuery)._schema


@pytest.mark.parametrize(
    "query", ["{ guarded { name } }", "{ guarded { pal { id } } }", "{ guarded { pal2 { name } } }"]
)
def test_permissions_and_extensions_are_never_skipped(query: str) -> None:
    GUARD_CALLS.clear()
    stock = run(IncrementalExecutor, GUARDED, query)
    stock_calls = list(GUARD_CALLS)
    GUARD_CALLS.clear()
    fast = run(FastExecutor, GUARDED, query)
    assert fast == stock
    assert stock_calls == GUARD_CALLS and stock_calls  # the permission or extension ran for every object


@strawberry.type(name="Item")
class OtherItem:
    id: strawberry.ID
    _buddy: strawberry.Private[object] = NOT_LOADED

    @strawberry.field
    def buddy(self) -> Pal | None:
        BUDDY_CALLS.append(self.id)
        return Pal(id=self.id, name="resolved")


@strawberry.type
class OtherQuery:
    @strawberry.field
    def items(self) -> list[OtherItem]:
        return [OtherItem(id=strawberry.ID(str(i)), _buddy=None) for i in range(5)]


def test_preloading_is_declared_by_each_schema() -> None:
    """The same type and field names in another schema, without the declaration: its resolver always runs
    (a process-wide registry keyed by names would have skipped it)."""
    other = strawberry.Schema(query=OtherQuery)._schema
    BUDDY_CALLS.clear()
    body = orjson.loads(run(FastExecutor, other, "{ items { buddy { name } } }"))
    assert len(BUDDY_CALLS) == 5
    assert all(i["buddy"]["name"] == "resolved" for i in body["data"]["items"])


def test_graphql_core_fields_declare_preloading_in_their_extensions() -> None:
    from types import SimpleNamespace

    from atlas4d.web.fast_executor import PRELOADED, Preloaded

    calls: list[int] = []
    pal = GraphQLObjectType("Pal", {"name": GraphQLField(GraphQLString)})

    def resolve_pal(source: Any, _info: Any) -> Any:
        calls.append(1)
        return source.pal

    extensions = {PRELOADED: Preloaded("pal", NOT_LOADED)}
    row = GraphQLObjectType("Row", {"pal": GraphQLField(pal, resolve=resolve_pal, extensions=extensions)})
    sources = [SimpleNamespace(pal={"name": f"x{i}"}) for i in range(3)]
    rows = GraphQLField(GraphQLList(row), resolve=lambda *_: sources)
    schema = GraphQLSchema(GraphQLObjectType("Query", {"rows": rows}))
    query = "{ rows { pal { name } } }"
    stock = run(IncrementalExecutor, schema, query)
    assert len(calls) == 3
    calls.clear()
    assert run(FastExecutor, schema, query) == stock
    assert calls == []


# The graphql-core methods the adapter overrides or calls (see the module docstring): a graphql-core release
# that renames or reshapes one fails here, not in production.
ADAPTER = {
    "execute_fields": [
        "self",
        "parent_type",
        "source_value",
        "path",
        "grouped_field_set",
        "position_context",
    ],
    "complete_iterable_value": [
        "self",
        "item_type",
        "field_details_list",
        "info",
        "path",
        "items",
        "position_context",
    ],
    "execute_field": ["self", "parent_type", "source", "field_details_list", "path", "position_context"],
    "collect_subfields": ["self", "return_type", "field_details_list"],
    "collect_and_execute_subfields": [
        "self",
        "return_type",
        "field_details_list",
        "path",
        "result",
        "position_context",
    ],
    "handle_field_error": ["self", "raw_error", "return_type", "field_details_list", "path"],
    "get_stream_usage": ["self", "field_details_list", "path"],
    "settle_in_background": ["self", "awaitables"],
}


@pytest.mark.parametrize(("method", "parameters"), ADAPTER.items())
def test_the_adapter_matches_graphql_core(method: str, parameters: list[str]) -> None:
    import inspect

    assert list(inspect.signature(getattr(IncrementalExecutor, method)).parameters) == parameters
    import graphql

    assert graphql.__version__.startswith("3.3.")
