"""Directives composition carries into the supergraph, and Federation 1 subgraphs: our supergraph is byte for byte
the one @apollo/composition writes for the same subgraphs, and says what each directive should (checked on the
text too, so that a case where both compositions dropped a directive would fail)."""

from __future__ import annotations

import pytest
from fed_servers import node_json
from graphql import print_schema

from atlas4d.federation.compose import CompositionError, SubgraphSource, compose
from atlas4d.federation.gateway import Gateway


def link(version: str, *imports: str) -> str:
    names = ", ".join(f'"@{name}"' for name in ("key", "shareable", *imports))
    return f'extend schema @link(url: "https://specs.apollo.dev/federation/v{version}", import: [{names}])\n'


FED_27 = link("2.7", "tag", "inaccessible", "override", "external", "requires", "composeDirective")
FED_29 = link("2.9", "tag", "inaccessible", "cost", "listSize", "context", "fromContext")
AUTH = link("2.9", "tag", "cost", "authenticated", "requiresScopes", "policy")
AUDIT = (
    'extend schema @link(url: "https://atlas4d.dev/audit/v1.0", import: ["@audit", "@hint"])\n'
    '  @composeDirective(name: "@audit") @composeDirective(name: "@hint")\n'
    "directive @audit(level: Int!) on OBJECT | FIELD_DEFINITION\n"
    "directive @hint(text: String) repeatable on FIELD_DEFINITION | ENUM_VALUE\n"
)

# case -> (subgraph SDLs by name, lines the supergraph must contain)
CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "@tag on every kind of element, merged across subgraphs": (
        {
            "a": FED_27 + 'type Query @tag(name: "q") { p(id: ID! @tag(name: "arg")): P @tag(name: "pub") } '
            'type P @key(fields: "id") @tag(name: "ent") { id: ID! name: String @tag(name: "pub") '
            '@tag(name: "x") @deprecated(reason: "old") kind: K s: Int @shareable @tag(name: "s1") } '
            'enum K @tag(name: "e") { A @tag(name: "v") B } input I @tag(name: "in") { f: Int @tag(name: "f") } '
            'scalar S @tag(name: "s") union U @tag(name: "u") = P interface N @tag(name: "n") { id: ID! }',
            "b": FED_27
            + 'type P @key(fields: "id") @tag(name: "ent2") { id: ID! more: Int @tag(name: "pub") '
            's: Int @shareable @tag(name: "s2") @tag(name: "s1") }',
        },
        [
            '  @link(url: "https://specs.apollo.dev/tag/v0.3")',
            '  @tag(name: "ent")\n  @tag(name: "ent2")',
            '  p(id: ID! @tag(name: "arg")): P @join__field(graph: A) @tag(name: "pub")',
            '  name: String @join__field(graph: A) @tag(name: "pub") @tag(name: "x") @deprecated(reason: "old")',
            '  s: Int @tag(name: "s1") @tag(name: "s2")',
            '  A @join__enumValue(graph: A) @tag(name: "v")',
        ],
    ),
    "@composeDirective: repeatable and not, differing arguments": (
        {
            "a": FED_27 + AUDIT + 'type Query { p: P @audit(level: 1) @hint(text: "a") } '
            'type P @key(fields: "id") @audit(level: 2) { id: ID! name: String @hint(text: "x") @hint(text: "y") }',
            "b": FED_27
            + AUDIT
            + 'type P @key(fields: "id") @audit(level: 3) { id: ID! more: Int @hint(text: "x") } '
            'type Query { q: Int @hint(text: "b") }',
        },
        [
            '  @link(url: "https://atlas4d.dev/audit/v1.0", import: ["@audit", "@hint"])',
            "directive @audit(level: Int!) on OBJECT | FIELD_DEFINITION",
            '  p: P @join__field(graph: A) @audit(level: 1) @hint(text: "a")',
            '  @join__type(graph: B, key: "id")\n  @audit(level: 2)\n{',
        ],
    ),
    "progressive @override(label:) next to a plain one": (
        {
            "a": FED_27 + 'type Query { p: P } type P @key(fields: "id") { id: ID! name: String price: Int }',
            "b": FED_27 + 'type P @key(fields: "id") { id: ID! name: String @override(from: "a", label: '
            '"percent(25)") price: Int @override(from: "a") }',
        },
        [
            '  name: String @join__field(graph: A, overrideLabel: "percent(25)") '
            '@join__field(graph: B, override: "a", overrideLabel: "percent(25)")',
            '  price: Int @join__field(graph: B, override: "a")',
        ],
    ),
    "@context and @fromContext": (
        {
            "a": FED_29
            + 'type Query { u: U } type U @key(fields: "id") { id: ID! name: String! @shareable }',
            "b": FED_29
            + 'type U @key(fields: "id") @context(name: "userCtx") { id: ID! name: String! @shareable '
            'p: P } type P @key(fields: "id") { id: ID! greet(name: String @fromContext(field: '
            '"$userCtx { name }"), punct: String): String }',
        },
        [
            '  @link(url: "https://specs.apollo.dev/context/v0.1", for: SECURITY)',
            '  @context(name: "b__userCtx")',
            '  greet(punct: String): String @join__field(graph: B, contextArguments: [{context: "b__userCtx", '
            'name: "name", type: "String", selection: " { name }"}])',
        ],
    ),
    "@cost and @listSize, merged across subgraphs": (
        {
            "a": FED_29 + "type Query { ps(first: Int, last: Int): [P] @shareable @cost(weight: 2) @listSize("
            'assumedSize: 5, slicingArguments: ["first"]) conn(first: Int): Conn @listSize(slicingArguments: '
            '["first"], sizedFields: ["items"]) } type Conn { items: [P] } type P @key(fields: "id") @cost(weight: 2) '
            "{ id: ID! name(x: Int @cost(weight: 8)): String @cost(weight: 3) e: E } enum E @cost(weight: 4) { A } "
            "scalar S @cost(weight: 7) input In { f: Int @cost(weight: 9) }",
            "b": FED_29 + "type Query { ps(first: Int, last: Int): [P] @shareable @cost(weight: 7) @listSize("
            'assumedSize: 3, slicingArguments: ["last", "first"], requireOneSlicingArgument: false) } '
            'type P @key(fields: "id") @cost(weight: 5) { id: ID! more: Int @cost(weight: 6) }',
        },
        [
            '  @link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"])',
            "  ps(first: Int, last: Int): [P] @cost(weight: 7) @listSize(assumedSize: 5, slicingArguments: "
            '["first", "last"], requireOneSlicingArgument: false)',
            '  @join__type(graph: B, key: "id")\n  @cost(weight: 5)',
            "  name(x: Int @cost(weight: 8)): String @join__field(graph: A) @cost(weight: 3)",
        ],
    ),
    "@cost alone": (
        {"a": FED_29 + "type Query { p: Int @cost(weight: 1) }"},
        ['  @link(url: "https://specs.apollo.dev/cost/v0.1")\n', "directive @cost__listSize("],
    ),
    "@authenticated, @requiresScopes, @policy: first, scopes and policies combined": (
        {
            "a": AUTH
            + 'type Query { p: P @authenticated me: Int @requiresScopes(scopes: [["read:a"], ["admin"]]) '
            '@tag(name: "t") x: Int @tag(name: "t") @policy(policies: [["p1"]]) @cost(weight: 1) @authenticated '
            'y: Int @shareable @policy(policies: [["a"]]) @requiresScopes(scopes: [["s1"]]) } '
            'type P @key(fields: "id") @authenticated { id: ID! secret: String @requiresScopes(scopes: '
            '[["read:secret"]]) } enum E @requiresScopes(scopes: [["e"]]) { A } scalar S @policy(policies: [["ps"]])',
            "b": AUTH + 'type P @key(fields: "id") { id: ID! more: Int @policy(policies: [["p2", "p3"]]) } '
            'type Query { y: Int @shareable @requiresScopes(scopes: [["s2"], ["s3"]]) @policy(policies: [["b"]]) }',
        },
        [
            '  @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)',
            "directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on FIELD_DEFINITION | OBJECT | "
            "INTERFACE | SCALAR | ENUM",
            '  x: Int @join__field(graph: A) @authenticated @policy(policies: [["p1"]]) @tag(name: "t") '
            "@cost(weight: 1)",
            '  y: Int @requiresScopes(scopes: [["s1", "s2"], ["s1", "s3"]]) @policy(policies: [["a", "b"]])',
            '  me: Int @join__field(graph: A) @requiresScopes(scopes: [["read:a"], ["admin"]]) @tag(name: "t")',
        ],
    ),
    "Federation 1 subgraphs (no @link)": (
        {
            "a": 'type Query { p: P ps: [P] v: V } type P @key(fields: "id") { id: ID! name: String v: V } '
            "type V { x: Int }",
            "b": 'extend type P @key(fields: "id") { id: ID! @external name: String @external weight: Int @external '
            'price: Int @requires(fields: "name") } type V { x: Int } extend type Query { q: V }',
        },
        [
            '  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)',
            "  name: String @join__field(graph: A) @join__field(graph: B, external: true)",
            '  price: Int @join__field(graph: B, requires: "name")',
        ],
    ),
    "Federation 1 and 2 subgraphs together": (
        {
            "a": 'type Query { p: P } type P @key(fields: "id") { id: ID! name: String @tag(name: "t") }',
            "b": FED_27 + 'type P @key(fields: "id") { id: ID! rating: Int @tag(name: "r") }',
        },
        [
            '  @link(url: "https://specs.apollo.dev/join/v0.4", for: EXECUTION)',
            '  name: String @join__field(graph: A) @tag(name: "t")',
        ],
    ),
}


def apollo(sdls: dict[str, str]) -> str:
    subs = [{"name": name, "url": f"http://{name}.test/graphql", "sdl": sdl} for name, sdl in sdls.items()]
    answer = node_json("compose.js", subs)
    assert "supergraphSdl" in answer, answer
    return str(answer["supergraphSdl"])


def ours(sdls: dict[str, str]) -> str:
    return compose([SubgraphSource(name, f"http://{name}.test/graphql", sdl) for name, sdl in sdls.items()])


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_same_supergraph_as_apollo(case: str) -> None:
    sdls, expected = CASES[case]
    supergraph = ours(sdls)
    for line in expected:
        assert line in supergraph, line
    assert supergraph == apollo(sdls)


def test_join_version_follows_the_newest_federation_version() -> None:
    for version, join in (
        ("2.0", "v0.3"),
        ("2.5", "v0.3"),
        ("2.7", "v0.4"),
        ("2.8", "v0.5"),
        ("2.9", "v0.5"),
    ):
        sdls = {"a": link(version) + 'type Query { p: P } type P @key(fields: "id") { id: ID! }'}
        supergraph = ours(sdls)
        assert f'@link(url: "https://specs.apollo.dev/join/{join}", for: EXECUTION)' in supergraph
        assert ("overrideLabel" in supergraph) == (join != "v0.3")
        assert ("contextArguments" in supergraph) == (join == "v0.5")
        assert supergraph == apollo(sdls)


def test_a_composed_directive_needs_a_link() -> None:
    sdls = {
        "a": FED_27
        + 'extend schema @composeDirective(name: "@audit")\ndirective @audit on FIELD_DEFINITION\n'
        "type Query { p: Int @audit }"
    }
    subs = [{"name": "a", "url": "http://a.test/graphql", "sdl": sdls["a"]}]
    theirs = node_json("compose.js", subs)
    assert "DIRECTIVE_COMPOSITION_ERROR" in {e["code"] for e in theirs["errors"]}
    with pytest.raises(CompositionError) as raised:
        ours(sdls)
    [issue] = raised.value.errors
    assert issue.code == "DIRECTIVE_COMPOSITION_ERROR" and "@audit" in issue.message


async def test_gateway_reads_what_we_compose() -> None:
    """The supergraph with every carried directive loads; the API schema has no @fromContext argument and no
    federation or composed directive."""
    sdls = {**CASES["@context and @fromContext"][0]}
    sdls["c"] = (
        FED_29.replace('"@key"', '"@key", "@composeDirective"')
        + AUDIT
        + ('type Query { c(first: Int): [Int] @listSize(assumedSize: 2) @tag(name: "t") @audit(level: 1) }')
    )
    gateway = Gateway.from_supergraph(ours(sdls))
    try:
        api = print_schema(gateway.supergraph.api_schema)
    finally:
        await gateway.aclose()
    assert "greet(punct: String): String" in api and "c(first: Int): [Int]" in api
    assert "@" not in api


BAD = link("2.9", "listSize", "context", "fromContext")
MISTAKES = {
    "@listSize on a field that is not a list": "type Query { q: Int @listSize(assumedSize: 3) }",
    "@listSize sized field missing": 'type Query { c: Conn @listSize(sizedFields: ["nope"]) } '
    "type Conn { items: [Int] }",
    "@listSize sized field not a list": 'type Query { c: Conn @listSize(sizedFields: ["n"]) } '
    "type Conn { items: [Int] n: Int }",
    "@listSize slicing argument the field lacks": "type Query { q(first: Int): [Int] @listSize(slicingArguments: "
    '["last"]) }',
    "@listSize negative assumed size": "type Query { q: [Int] @listSize(assumedSize: -1) }",
    "@fromContext of a context never set": 'type Query { p: P } type P @key(fields: "id") { id: ID! '
    'g(n: String @fromContext(field: "$nope { name }")): String }',
}


@pytest.mark.parametrize("case", MISTAKES, ids=list(MISTAKES))
def test_directive_mistakes_rejected_like_apollo(case: str) -> None:
    sdl = BAD + MISTAKES[case]
    theirs = node_json("compose.js", [{"name": "a", "url": "http://a.test/graphql", "sdl": sdl}])
    with pytest.raises(CompositionError) as raised:
        ours({"a": sdl})
    assert [(i.code, i.message) for i in raised.value.errors] == [
        (e["code"], e["message"]) for e in theirs["errors"]
    ]
