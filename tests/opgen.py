"""Random valid GraphQL operations over any schema, for the differential test (hypothesis draws every choice,
so a failure shrinks to a small operation).

An operation is built by walking the schema from the query root: a few fields per selection (leaves more
often than objects, `nodes` of a connection most often), aliases, the same response key selected twice
(same field and arguments, sub-selections merged), inline fragments and named fragment spreads, `@skip` and
`@include` with literals or variables, arguments as literals or variables (some with defaults, some null),
and on abstract types fragments on their possible types. Argument values come from `Values`: ids and
texts that exist in the seeded data, edge values (out of range, zone-less times, page sizes over the cap)
and nulls, so errors are generated as often as answers. Fields and arguments are chosen by name only where
a value needs a domain (a longitude, a page size); everything else follows the types, so a schema change
needs no change here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)
from graphql.utilities import get_default_value_ast
from hypothesis import strategies as st

Draw = Callable[[st.SearchStrategy[Any]], Any]
SKIPPED_ROOT_FIELDS = {"_service"}  # the SDL: large, and the same on every path


@dataclass
class Values:
    """Argument values drawn for the seeded data: `ids` and `texts` that exist, the rest by domain."""

    ids: list[str]
    texts: list[str]
    times: list[str]
    representations: list[dict[str, Any]]

    def scalar(self, draw: Draw, name: str, type_name: str, tame: bool = False) -> Any:
        """A value for an argument or input field `name` of scalar `type_name`; `tame`: valid ones only."""
        n = name.lower()
        if tame:
            valid = self.tame(draw, n, type_name)
            if valid is not None:
                return valid
        if type_name == "ID":
            return draw(st.sampled_from([*self.ids, "not-an-id", "00000000-0000-0000-0000-000000000000"]))
        if type_name == "Int":
            if n == "first":
                return draw(st.sampled_from([0, 1, 2, 3, 5, 20, 1001, -1]))
            if "resolution" in n:
                return draw(st.sampled_from([3, 6, 16]))
            if "severity" in n:
                return draw(st.sampled_from([1, 3, 6]))
            return draw(st.sampled_from([0, 1, 2, 5, -1, 100]))
        if type_name == "Float":
            if "lon" in n:
                return draw(st.sampled_from([27.2, 27.5, 27.9, 28.5, -180.0, 180.0, 181.0]))
            if "lat" in n:
                return draw(st.sampled_from([42.2, 42.5, 42.9, 43.5, -90.0, 90.0, 91.0]))
            if "radius" in n:
                return draw(st.sampled_from([100.0, 2_000.0, 50_000.0, 0.0]))
            if "cell" in n:
                return draw(st.sampled_from([0.05, 0.5, 0.0]))
            return draw(st.sampled_from([0.0, 0.5, 1.0, 10.0, 500.0, -1.0, 1e7]))
        if type_name == "String":
            return draw(st.sampled_from([*self.texts, "", "zz-no-match", 'é"\\']))
        if type_name == "Boolean":
            return draw(st.booleans())
        if type_name == "DateTime":
            return draw(st.sampled_from([*self.times, "2026-06-01T00:00:00", "not a time"]))
        if type_name == "Duration":
            return draw(st.sampled_from(["PT1H", "PT30M", "P1D", "P7D", "P1M", "PT0S", "P100000D"]))
        if type_name == "GeoJSON":
            return draw(st.sampled_from([BOX, MULTI, {"type": "Point", "coordinates": [27.5, 42.5]}, BOWTIE]))
        if type_name == "JSON":
            return {"k": draw(st.sampled_from(["v", 1, None]))}
        if type_name == "_Any":
            return draw(st.sampled_from(self.representations))
        return draw(st.sampled_from(["x", 1]))

    def tame(self, draw: Draw, n: str, type_name: str) -> Any:
        if type_name == "Int" and n == "first":
            return draw(st.sampled_from([1, 2, 3, 5, 20]))
        if type_name == "Float" and "lon" in n:
            return draw(st.sampled_from([27.2, 27.5, 27.9]))
        if type_name == "Float" and "lat" in n:
            return draw(st.sampled_from([42.2, 42.5, 42.9]))
        if type_name == "ID":
            return draw(st.sampled_from(self.ids))
        if type_name == "DateTime":
            return draw(st.sampled_from(self.times))
        if type_name == "Duration":
            return draw(st.sampled_from(["PT1H", "P1D", "P7D"]))
        if type_name == "GeoJSON":
            return draw(st.sampled_from([BOX, MULTI]))
        return None


BOX = {
    "type": "Polygon",
    "coordinates": [[[27.0, 42.0], [28.0, 42.0], [28.0, 43.0], [27.0, 43.0], [27.0, 42.0]]],
}
MULTI = {
    "type": "MultiPolygon",
    "coordinates": [[[[27.4, 42.4], [27.6, 42.4], [27.6, 42.6], [27.4, 42.6], [27.4, 42.4]]]],
}
BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def literal(value: Any, type_: GraphQLInputType) -> str:
    """A GraphQL literal of a JSON value (enums unquoted, input objects as `{a: …}`)."""
    if isinstance(type_, GraphQLNonNull):
        return literal(value, type_.of_type)
    if value is None:
        return "null"
    if isinstance(type_, GraphQLList):
        return "[" + ", ".join(literal(v, type_.of_type) for v in value) + "]"
    if isinstance(type_, GraphQLEnumType):
        return str(value)
    if isinstance(type_, GraphQLInputObjectType):
        return "{" + ", ".join(f"{k}: {literal(v, type_.fields[k].type)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):  # inside a JSON-like scalar
        return "[" + ", ".join(literal(v, type_) for v in value) + "]"
    return "{" + ", ".join(f"{k}: {literal(v, type_)}" for k, v in value.items()) + "}"  # JSON-like scalars


@dataclass
class Scope:
    """The response keys of one merged selection: key -> (parent type, field, arguments text, child scope)."""

    keys: dict[str, tuple[str, str, str, Scope]] = field(default_factory=dict)
    prefix: str = ""  # under an abstract type: keys carry the member's name, so members never clash
    members: dict[str, Scope] = field(default_factory=dict)


class Operation:
    """One operation being drawn."""

    def __init__(
        self,
        schema: GraphQLSchema,
        values: Values,
        draw: Draw,
        *,
        max_depth: int = 3,
        budget: int = 24,
        roots: tuple[str, ...] | None = None,
    ) -> None:
        """`roots` limits the root fields to these names, one response key, leaves and `nodes` strongly
        preferred: the shapes a fast path compiles (with every variation of selection around them)."""
        self.roots = roots
        self.budget = budget  # fields and fragments left to draw: keeps operations small
        self.schema = schema
        self.values = values
        self.draw = draw
        self.max_depth = max_depth
        self.variables: dict[str, tuple[str, Any, str | None]] = {}  # name -> (type, value, default literal)
        self.fragments: list[str] = []

    def text(self) -> tuple[str, dict[str, Any]]:
        query = self.schema.query_type
        assert query is not None
        body = self.selection(query, 0, Scope(), root=True)
        header = ""
        if self.variables:
            parts = [
                f"${n}: {t}" + (f" = {d}" if d is not None else "") for n, (t, _, d) in self.variables.items()
            ]
            header = "(" + ", ".join(parts) + ")"
        given = {n: v for n, (_, v, _d) in self.variables.items() if v is not OMITTED}
        return f"query Q{header} {body}" + "".join(self.fragments), given

    # --- selections -------------------------------------------------------------------------------------

    def selection(self, type_: GraphQLOutputType, depth: int, scope: Scope, root: bool = False) -> str:
        named = get_named_type(type_)
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            return self.abstract(named, depth, scope)
        assert isinstance(named, GraphQLObjectType)
        items = []
        for _ in range(self.draw(st.integers(1, 1 if root and self.roots else 3 if root else 4))):
            self.budget -= 1
            form = self.draw(st.sampled_from(["field"] * 6 + ["inline", "spread", "typename"]))
            if (self.budget < 0 and not root) or (root and self.roots):
                form = "field" if root and self.roots else "typename"
            if form == "typename" and root and not self.roots and self.draw(st.booleans()):
                items.append(self.meta())  # introspection beside the data: never compiled, always answered
            elif form == "typename":
                items.append("__typename")
            elif form in ("inline", "spread") and depth < self.max_depth:
                inner = self.selection(named, depth, scope)
                items.append(self.fragment(named.name, inner, form))
            else:
                items.append(self.field(named, depth, scope, root))
        return "{ " + " ".join(i for i in items if i) + " }"

    def meta(self) -> str:
        names = sorted(n for n in self.schema.type_map if not n.startswith("__"))
        name = self.draw(st.sampled_from([*names, "NoSuchType"]))
        key = f"m{len(self.variables)}_{self.budget}".replace("-", "_")
        return f'{key}: __type(name: "{name}") {{ name kind fields {{ name }} }}'

    def abstract(self, type_: GraphQLInterfaceType | GraphQLUnionType, depth: int, scope: Scope) -> str:
        members = sorted(self.schema.get_possible_types(type_), key=lambda t: t.name)
        items = ["__typename"]
        chosen = st.lists(st.sampled_from(members), min_size=1, max_size=2, unique_by=lambda t: t.name)
        for member in self.draw(chosen) if self.budget > 0 else []:
            inner = self.selection(
                member, depth, scope.members.setdefault(member.name, Scope(prefix=member.name + "_"))
            )
            items.append(f"... on {member.name} {inner}")
        return "{ " + " ".join(items) + " }"

    def fragment(self, on: str, inner: str, form: str) -> str:
        directive = self.condition()
        if form == "inline":
            return f"... on {on}{directive} {inner}"
        name = f"F{len(self.fragments)}"
        self.fragments.append(f" fragment {name} on {on} {inner}")
        return f"...{name}{directive}"

    def field(self, parent: GraphQLObjectType, depth: int, scope: Scope, root: bool) -> str:
        names = [n for n in parent.fields if not (root and n in SKIPPED_ROOT_FIELDS)]
        if root and self.roots:
            names = [n for n in names if n in self.roots]
        if depth >= self.max_depth:
            names = [n for n in names if is_leaf_type(get_named_type(parent.fields[n].type))] or names
        weights = [self.weight(parent.fields[n].type, n, bool(self.roots)) for n in names]
        name = self.draw(st.sampled_from([n for n, w in zip(names, weights, strict=True) for _ in range(w)]))
        key = scope.prefix + self.draw(
            st.sampled_from([name, name, "a", "b"] + [name] * 6 * bool(self.roots))
        )
        known = scope.keys.get(key)
        if known is not None and (known[0], known[1]) != (parent.name, name):
            key = scope.prefix + f"{parent.name}_{name}"  # never two different fields under one key
            known = scope.keys.get(key)
        if known is not None and (known[0], known[1]) == (parent.name, name):
            arguments, child = known[2], known[3]  # the same key again: same arguments, merged selection
        else:
            arguments, child = self.arguments(parent, name), Scope()
            scope.keys[key] = (parent.name, name, arguments, child)
        definition = parent.fields[name]
        sub = ""
        if not is_leaf_type(get_named_type(definition.type)):
            sub = " " + self.selection(definition.type, depth + 1, child)
        head = name if key == name else f"{key}: {name}"
        return f"{head}{arguments}{self.condition()}{sub}"

    @staticmethod
    def weight(type_: GraphQLOutputType, name: str, pages: bool) -> int:
        if name == "nodes":
            return 60 if pages else 12
        if name in ("edges", "pageInfo", "totalCount"):
            return 1
        if pages:
            return (
                12 if is_leaf_type(get_named_type(type_)) else 3 if name in ("entity", "observations") else 1
            )
        return 3 if is_leaf_type(get_named_type(type_)) else 2

    def condition(self) -> str:
        form = self.draw(st.sampled_from(["", "", "", "", "literal", "variable"]))
        if not form:
            return ""
        directive = self.draw(st.sampled_from(["include", "skip"]))
        if form == "literal":
            return f" @{directive}(if: {self.draw(st.sampled_from(['true', 'false']))})"
        return f" @{directive}(if: {self.variable('Boolean!', self.draw(st.booleans()), None)})"

    # --- arguments --------------------------------------------------------------------------------------

    def arguments(self, parent: GraphQLObjectType, name: str) -> str:
        parts = []
        for arg_name, arg in parent.fields[name].args.items():
            required = isinstance(arg.type, GraphQLNonNull) and get_default_value_ast(arg) is None
            if not required and (
                self.draw(st.integers(0, 2 if self.roots else 1)) != 0 or (self.roots and arg_name == "after")
            ):
                continue
            value = self.value(arg.type, arg_name, 0)
            parts.append(f"{arg_name}: {self.argument(arg.type, value)}")
        return "(" + ", ".join(parts) + ")" if parts else ""

    def argument(self, type_: GraphQLInputType, value: Any) -> str:
        form = self.draw(st.sampled_from(["literal", "literal", "variable", "default"]))
        if form == "literal":
            return literal(value, type_)
        type_text = str(type_)
        if form == "default" and not isinstance(type_, GraphQLNonNull):
            return self.variable(type_text, OMITTED, literal(value, type_))  # the default, not sent
        return self.variable(type_text, value, None)

    def variable(self, type_text: str, value: Any, default: str | None) -> str:
        name = f"v{len(self.variables)}"
        self.variables[name] = (type_text, value, default)
        return f"${name}"

    def value(self, type_: GraphQLInputType, name: str, depth: int) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return self.value_of(type_.of_type, name, depth)
        if self.draw(st.integers(0, 9)) == 0:
            return None
        return self.value_of(type_, name, depth)

    def value_of(self, type_: GraphQLInputType, name: str, depth: int) -> Any:
        """A value of `type_` (never null)."""
        if isinstance(type_, GraphQLList):
            return [self.value(type_.of_type, name, depth) for _ in range(self.draw(st.integers(0, 3)))]
        if isinstance(type_, GraphQLEnumType):
            return self.draw(st.sampled_from(sorted(type_.values)))
        if isinstance(type_, GraphQLInputObjectType):
            out = {}
            for field_name, input_field in type_.fields.items():
                required = (
                    isinstance(input_field.type, GraphQLNonNull)
                    and get_default_value_ast(input_field) is None
                )
                if required or (depth < 2 and self.draw(st.integers(0, 2)) == 0):
                    out[field_name] = self.value(input_field.type, field_name, depth + 1)
            return out
        assert isinstance(type_, GraphQLScalarType)
        return self.values.scalar(
            self.draw, name, type_.name, tame=bool(self.roots) and self.draw(st.integers(0, 4)) > 0
        )


class _Omitted:
    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Any = _Omitted()  # a variable left to its default
