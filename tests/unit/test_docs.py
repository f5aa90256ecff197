"""The docs keep up with the code: every error code, every setting (with its default) and every field,
argument and filter of the core schema is documented, and every GraphQL example in docs/api.md validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    parse,
    validate,
)
from pydantic_core import PydanticUndefined

from atlas4d.core.schema import build_core_schema
from atlas4d.errors import all_codes
from atlas4d.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "atlas4d"
# literal codes handed to clients outside the error classes: error_response("CODE", ...) and {"code": "CODE"}
LITERAL_CODE = re.compile(r'error_response\(\s*"([A-Z][A-Z_]+)"|"code":\s*"([A-Z][A-Z_]+)"')


def documented_codes() -> set[str]:
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    return set(re.findall(r"^#{2,4} `([A-Z][A-Z_]+)`", text, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_core_schema()._schema


@pytest.mark.parametrize("code", sorted(all_codes()))
def test_every_error_code_is_documented(code: str) -> None:
    assert code in documented_codes(), f"docs/errors.md has no '### `{code}`' section"


def test_codes_sent_by_the_http_layer_are_known() -> None:
    """A code a client can receive is in `all_codes()` (which the docs test walks), not only in a literal."""
    literal: set[str] = set()
    for path in [*(SRC / "web").glob("*.py"), *(SRC / "core").rglob("*.py")]:
        for match in LITERAL_CODE.finditer(path.read_text(encoding="utf-8")):
            literal.add(match.group(1) or match.group(2))
    assert literal, "no literal codes found: the pattern is stale"
    assert literal <= documented_codes()
    assert literal - all_codes() == set(), "codes sent to clients but missing from atlas4d.errors.all_codes()"


def test_every_error_class_in_the_package_is_documented() -> None:
    """Codes declared anywhere (federation, modules) as `code = "..."` on an error class are documented too."""
    declared = set()
    for path in SRC.rglob("*.py"):
        declared |= set(
            re.findall(r'^\s+code = "([A-Z][A-Z_]+)"', path.read_text(encoding="utf-8"), re.MULTILINE)
        )
    assert "BAD_BBOX" in declared, "the pattern is stale"
    assert declared - documented_codes() == set()


def default_text(name: str) -> str | None:
    """How the default of setting `name` is written in docs/configuration.md (None: computed at run time)."""
    field = Settings.model_fields[name]
    if field.default is PydanticUndefined:
        return None
    if field.default is None:
        return "unset"
    if isinstance(field.default, bool):
        return str(field.default).lower()
    return str(field.default)


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_default(name: str) -> None:
    env = f"ATLAS4D_{name.upper()}"
    rows = [
        line
        for line in (DOCS / "configuration.md").read_text(encoding="utf-8").splitlines()
        if line.startswith(f"| `{env}` |")
    ]
    assert len(rows) == 1, f"docs/configuration.md needs one table row for {env}"
    default = default_text(name)
    if default is not None:
        cell = rows[0].split("|")[2].strip()
        assert cell.strip("`") == default, f"{env}: documented default {cell!r}, code says {default!r}"


def api_doc() -> str:
    return (DOCS / "api.md").read_text(encoding="utf-8")


def test_every_root_field_and_argument_is_documented(schema: GraphQLSchema) -> None:
    text = api_doc()
    missing = []
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        assert root is not None
        for name, field in root.fields.items():
            if name.startswith("_"):
                continue
            if f"`{name}" not in text:
                missing.append(f"{root.name}.{name}")
            missing += [f"{root.name}.{name}({a})" for a in field.args if not re.search(rf"\b{a}\b", text)]
    assert missing == []


def test_every_nested_field_and_filter_is_documented(schema: GraphQLSchema) -> None:
    text = api_doc()
    missing = []
    for type_name in ("Entity", "Observation", "Track", "Anomaly", "ObservationBucket", "GridCell"):
        t = schema.type_map[type_name]
        assert isinstance(t, GraphQLObjectType)
        for name, field in t.fields.items():
            if not re.search(rf"\b{name}\b", text):
                missing.append(f"{type_name}.{name}")
            missing += [f"{type_name}.{name}({a})" for a in field.args if not re.search(rf"\b{a}\b", text)]
    for t in schema.type_map.values():
        if isinstance(t, GraphQLInputObjectType):
            if f"`{t.name}`" not in text:
                missing.append(t.name)
            missing += [f"{t.name}.{f}" for f in t.fields if not re.search(rf"\b{f}\b", text)]
    assert missing == []


def graphql_examples() -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", api_doc(), flags=re.DOTALL)


def test_api_doc_has_examples() -> None:
    assert len(graphql_examples()) >= 20


@pytest.mark.parametrize("index", range(len(graphql_examples())))
def test_api_examples_validate(schema: GraphQLSchema, index: int) -> None:
    example = graphql_examples()[index]
    errors = validate(schema, parse(example))
    assert errors == [], f"example {index} of docs/api.md:\n{example}\n{errors}"


def test_examples_cover_every_filter_field(schema: GraphQLSchema) -> None:
    """Each field of ObservationFilter appears in at least one example, as an argument."""
    examples = "\n".join(graphql_examples())
    flt = schema.type_map["ObservationFilter"]
    assert isinstance(flt, GraphQLInputObjectType)
    missing = [f for f in flt.fields if not re.search(rf"\b{f}:", examples)]
    assert missing == [], f"no example uses ObservationFilter fields {missing}"
