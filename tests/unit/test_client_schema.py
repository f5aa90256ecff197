"""The schema as clients and their tools see it (graphql/schema.graphql): no federation internals, core's
descriptions on core types, Relay-complete PageInfo, @specifiedBy on every custom scalar (mapped in
docs/clients.md), an `id` on every object a client caches, and named example operations that validate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    get_named_type,
    is_specified_directive,
    is_specified_scalar_type,
    parse,
    validate,
)
from graphql.type.introspection import introspection_types

from atlas4d.core.schema import build_core_schema

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "graphql" / "schema.graphql"
EXAMPLES = sorted((ROOT / "graphql" / "examples").glob("*.graphql"))
CLIENTS_DOC = ROOT / "docs" / "clients.md"


@pytest.fixture(scope="module")
def api() -> GraphQLSchema:
    return build_schema(API.read_text(encoding="utf-8"))


def own_types(schema: GraphQLSchema) -> dict[str, object]:
    return {n: t for n, t in schema.type_map.items() if n not in introspection_types}


def test_no_federation_internals(api: GraphQLSchema) -> None:
    names = set(own_types(api))
    assert not {n for n in names if n.startswith(("_", "join__", "link__"))}, names
    assert not [d.name for d in api.directives if not is_specified_directive(d)]
    query = api.query_type
    assert query is not None and not {"_entities", "_service"} & set(query.fields)
    assert "@link" not in API.read_text(encoding="utf-8")


def test_core_types_carry_core_descriptions(api: GraphQLSchema) -> None:
    """A module extending Entity or Track must not replace core's text (composition takes one description)."""
    core = build_core_schema()._schema
    checked = 0
    for name, core_type in own_types(core).items():
        if name.startswith("_") or name not in api.type_map:
            continue
        api_type = api.type_map[name]
        assert getattr(api_type, "description", None) == getattr(core_type, "description", None), name
        for field_name, field in (getattr(core_type, "fields", None) or {}).items():
            api_field = getattr(api_type, "fields", {}).get(field_name)
            if api_field is not None:
                assert api_field.description == field.description, f"{name}.{field_name}"
        checked += 1
    assert checked > 20
    entity = api.type_map["Entity"]
    assert entity.description == "Something that moves or measures."  # type: ignore[union-attr]


def test_page_info_is_relay_complete(api: GraphQLSchema) -> None:
    page_info = api.type_map["PageInfo"]
    assert isinstance(page_info, GraphQLObjectType)
    types = {name: str(f.type) for name, f in page_info.fields.items()}
    assert types == {
        "hasNextPage": "Boolean!",
        "hasPreviousPage": "Boolean!",
        "startCursor": "String",
        "endCursor": "String",
    }


def scalar_map() -> set[str]:
    """The scalars in the map table of docs/clients.md (| `Scalar` | TypeScript | Python | wire format |)."""
    text = CLIENTS_DOC.read_text(encoding="utf-8")
    section = text.split("## Scalars", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \| `[^|]+\| `[^|]+\|", section, flags=re.MULTILINE))


def test_custom_scalars_are_specified_and_mapped(api: GraphQLSchema) -> None:
    custom = [
        t
        for t in api.type_map.values()
        if isinstance(t, GraphQLScalarType) and not is_specified_scalar_type(t)
    ]
    assert {t.name for t in custom} >= {"DateTime", "Duration", "GeoJSON", "JSON"}
    for scalar in custom:
        assert scalar.specified_by_url and scalar.specified_by_url.startswith("https://"), scalar.name
        assert scalar.description, scalar.name
    assert scalar_map() == {t.name for t in custom}, "docs/clients.md's scalar map is out of date"


def value_types() -> set[str]:
    """Object types documented in docs/clients.md as values (no identity; cached inside their parent)."""
    text = CLIENTS_DOC.read_text(encoding="utf-8")
    section = text.split("### Values without an id", 1)[1].split("\n#", 1)[0]
    (listed,) = [line for line in section.split("\n\n") if line.startswith("`")]
    return set(re.findall(r"`(\w+)`", listed))


def has_id(t: GraphQLObjectType) -> bool:
    field: GraphQLField | None = t.fields.get("id")
    return (
        field is not None
        and isinstance(field.type, GraphQLNonNull)
        and str(get_named_type(field.type)) == "ID"
    )


def test_every_cached_object_has_an_id(api: GraphQLSchema) -> None:
    roots = {t.name for t in (api.query_type, api.mutation_type, api.subscription_type) if t is not None}
    objects = [t for t in own_types(api).values() if isinstance(t, GraphQLObjectType) and t.name not in roots]
    plumbing = {t.name for t in objects if t.name.endswith(("Connection", "Edge")) or t.name == "PageInfo"}
    documented = value_types()
    for t in objects:
        if t.name in plumbing:
            continue
        if t.name in documented:
            assert not has_id(t), f"{t.name} has an id: take it out of docs/clients.md's value list"
        else:
            assert has_id(t), (
                f"{t.name} has no `id: ID!`: add one, or document it as a value in docs/clients.md"
            )
    assert {"Aircraft", "Camera", "SpeedingEvent"} <= {t.name for t in objects if has_id(t)}
    assert documented <= {t.name for t in objects}, "docs/clients.md lists types that do not exist"


def operation_names(path: Path) -> list[str | None]:
    document = parse(path.read_text(encoding="utf-8"))
    return [
        d.name.value if d.name else None
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    ]


def test_example_operations_are_named_uniquely_and_validate(api: GraphQLSchema) -> None:
    """Codegen refuses anonymous operations and needs unique names across the folder; each example is one
    operation named after its file (vehicles-latest.graphql: VehiclesLatest), valid on the API schema."""
    assert len(EXAMPLES) >= 8
    seen: set[str] = set()
    for path in EXAMPLES:
        (name,) = operation_names(path)
        expected = "".join(w.capitalize() for w in path.stem.split("-"))
        assert name == expected, (path.name, name)
        assert name not in seen
        seen.add(name)
        assert validate(api, parse(path.read_text(encoding="utf-8"))) == [], path.name
