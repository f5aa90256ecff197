"""Compose Federation 2 subgraph SDLs into a supergraph SDL in Apollo's format (join v0.4, link v1.0).

    sdl = compose([SubgraphSource("products", "http://products/graphql", products_sdl), ...])

Raises `CompositionError` listing every rule broken, each naming subgraphs and the type/field concerned.
This is our own composition, checked against `@apollo/composition` in the tests; see docs/federation.md for the
rules it checks and those it does not yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphql import print_ast

from atlas4d.federation.compose.merge import MergedField, MergedType, Merger, type_text
from atlas4d.federation.compose.model import SubField, SubType, read_subgraph
from atlas4d.federation.compose.rules import check
from atlas4d.federation.errors import CompositionError, CompositionIssue

__all__ = ["CompositionError", "CompositionIssue", "SubgraphSource", "compose", "graph_enum_names"]


@dataclass(frozen=True)
class SubgraphSource:
    name: str
    url: str
    sdl: str


HEADER = """schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.4", for: EXECUTION)
{inaccessible_link}{{
{roots}
}}

{inaccessible_directive}directive @join__directive(graphs: [join__Graph!], name: String!, args: join__DirectiveArguments) \
repeatable on SCHEMA | OBJECT | INTERFACE | FIELD_DEFINITION

directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE

directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, \
external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String) repeatable on \
FIELD_DEFINITION | INPUT_FIELD_DEFINITION

directive @join__graph(name: String!, url: String!) on ENUM_VALUE

directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE

directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: \
Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | \
INPUT_OBJECT | SCALAR

directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION

directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
"""

FEDERATION_TYPES = {
    "join__DirectiveArguments": "scalar join__DirectiveArguments",
    "join__FieldSet": "scalar join__FieldSet",
    "join__Graph": "enum join__Graph {{\n{graphs}\n}}",
    "link__Import": "scalar link__Import",
    "link__Purpose": """enum link__Purpose {{
  \"\"\"
  `SECURITY` features provide metadata necessary to securely resolve fields.
  \"\"\"
  SECURITY

  \"\"\"
  `EXECUTION` features provide metadata necessary for operation execution.
  \"\"\"
  EXECUTION
}}""",
}

INACCESSIBLE_LINK = '  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)\n'
INACCESSIBLE_DIRECTIVE = (
    "directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | "
    "ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION\n\n"
)


def graph_enum_names(names: list[str]) -> dict[str, str]:
    """Subgraph name -> join__Graph value, the way Apollo derives them (upper case, `_` for other chars)."""
    out: dict[str, str] = {}
    for name in sorted(names):
        value = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
        if value[:1].isdigit():
            value = "_" + value
        base, n = value, 1
        while value in out.values():
            value = f"{base}_{n}"
            n += 1
        out[name] = value
    return out


def compose(subgraphs: list[SubgraphSource]) -> str:
    """The supergraph SDL of the subgraphs; raises CompositionError when a rule is broken."""
    if not subgraphs:
        raise CompositionError([CompositionIssue("NO_SUBGRAPHS", "no subgraphs to compose")])
    models = [read_subgraph(s.name, s.url, s.sdl) for s in subgraphs]
    for model in models:  # every subgraph has a query root (`_service`, `_entities`), as Apollo counts it
        model.types.setdefault(model.roots["query"], SubType(model.roots["query"], "object"))
    merger = Merger(models)
    types = merger.merge()
    check(merger)
    if merger.issues:
        raise CompositionError(merger.issues)
    return _Printer(merger, types).print()


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _description(text: str | None, indent: str) -> str:
    if not text:
        return ""
    return f'{indent}"""\n{indent}{text}\n{indent}"""\n'


class _Printer:
    def __init__(self, merger: Merger, types: dict[str, MergedType]) -> None:
        self.merger = merger
        self.types = types
        self.enum = graph_enum_names([s.name for s in merger.subgraphs])

    def print(self) -> str:
        inaccessible = any(
            t.inaccessible
            or any(f.inaccessible for mf in t.fields.values() for f in mf.sources.values())
            or any(f.inaccessible for s in t.sources.values() for f in s.values.values())
            for t in self.types.values()
        )
        roots = [
            f"  {op}: {op.capitalize()}"
            for op in ("query", "mutation", "subscription")
            if op.capitalize() in self.types
        ]
        graphs = "\n".join(
            f"  {self.enum[s.name]} @join__graph(name: {_string(s.name)}, url: {_string(s.url)})"
            for s in self.merger.subgraphs
        )
        header = HEADER.format(
            inaccessible_link=INACCESSIBLE_LINK if inaccessible else "",
            inaccessible_directive=INACCESSIBLE_DIRECTIVE if inaccessible else "",
            roots="\n".join(roots),
        )
        blocks = [(name, text.format(graphs=graphs)) for name, text in FEDERATION_TYPES.items()]
        blocks += [(t.name, self._type(t)) for t in self.types.values()]
        blocks.sort(key=lambda block: block[0].lower())
        return header + "\n" + "\n\n".join(text for _, text in blocks)

    def _type_directives(self, merged: MergedType) -> list[str]:
        out = []
        if merged.inaccessible:
            out.append("@inaccessible")
        for graph, sub in merged.sources.items():
            if merged.kind == "object":
                for interface in sub.interfaces:
                    out.append(
                        f"@join__implements(graph: {self.enum[graph]}, interface: {_string(interface)})"
                    )
        for graph, sub in merged.sources.items():
            extras = ""
            if sub.extension:
                extras += ", extension: true"
            if sub.interface_object:
                extras += ", isInterfaceObject: true"
            if sub.keys:
                for key, resolvable in sub.keys:
                    more = extras + ("" if resolvable else ", resolvable: false")
                    out.append(f"@join__type(graph: {self.enum[graph]}, key: {_string(key)}{more})")
            else:
                out.append(f"@join__type(graph: {self.enum[graph]}{extras})")
        if merged.kind == "union":
            for graph, sub in merged.sources.items():
                for member in sub.members:
                    out.append(f"@join__unionMember(graph: {self.enum[graph]}, member: {_string(member)})")
        return out

    def _type(self, merged: MergedType) -> str:
        keyword = {"object": "type", "input": "input"}.get(merged.kind, merged.kind)
        head = _description(merged.description, "") + f"{keyword} {merged.name}"
        if merged.kind in ("object", "interface"):
            interfaces = [i for i in merged.interfaces if i in self.types]
            if interfaces:
                head += " implements " + " & ".join(interfaces)
        directives = self._type_directives(merged)
        kept = [print_ast(d) for s in merged.sources.values() for d in s.directives][:1]
        head += "".join("\n  " + d for d in [*directives, *kept])  # Apollo prints join__ first
        if merged.kind == "scalar":
            return head
        if merged.kind == "union":
            return head + "\n = " + " | ".join(merged.members)
        body = self._values(merged) if merged.kind == "enum" else self._fields(merged)
        return head + "\n{\n" + body + "\n}"

    def _values(self, merged: MergedType) -> str:
        lines = []
        for value, graphs in merged.values.items():
            subs = [merged.sources[g].values[value] for g in graphs]
            text = (
                _description(next((s.description for s in subs if s.description), None), "  ") + "  " + value
            )
            text += "".join(" " + print_ast(d) for d in subs[0].directives)
            if any(s.inaccessible for s in subs):
                text += " @inaccessible"
            text += "".join(f" @join__enumValue(graph: {self.enum[g]})" for g in graphs)
            lines.append(text)
        return "\n".join(lines)

    def _arguments(self, merged_field: MergedField) -> str:
        if not merged_field.arguments:
            return ""
        printed = []
        described = any(a.description is not None for a in merged_field.arguments)
        for argument in merged_field.arguments:
            text = f"{argument.name.value}: {type_text(argument.type)}"
            if argument.default_value is not None:
                text += f" = {print_ast(argument.default_value)}"
            if described:  # one argument a line, each with its description, as Apollo prints them
                description = argument.description.value if argument.description is not None else None
                text = _description(description, "    ") + "    " + text
            printed.append(text)
        if described:
            return "(\n" + "\n".join(printed) + "\n  )"
        return "(" + ", ".join(printed) + ")"

    def _fields(self, merged: MergedType) -> str:
        lines = []
        for merged_field in merged.fields.values():
            sources = merged_field.sources
            first: SubField | None = next(iter(sources.values()), None)
            text = _description(first.description if first else None, "  ")
            text += f"  {merged_field.name}{self._arguments(merged_field)}: {type_text(merged_field.type)}"
            if merged.kind == "input" and first is not None and first.default is not None:
                text += f" = {print_ast(first.default)}"
            if first is not None:
                text += "".join(" " + print_ast(d) for d in first.directives)
            if any(f.inaccessible for f in sources.values()):
                text += " @inaccessible"
            text += "".join(" " + j for j in self._join_fields(merged, merged_field))
            lines.append(text)
        return "\n".join(lines)

    def _join_fields(self, merged: MergedType, merged_field: MergedField) -> list[str]:
        sources = merged_field.sources
        if not sources:
            return ["@join__field"]
        merged_type = type_text(merged_field.type)
        typed = any(type_text(f.type) != merged_type for f in sources.values())
        special = typed or any(f.external or f.requires or f.provides or f.override for f in sources.values())
        if not special and not merged_field.overridden and len(sources) == len(merged.sources):
            return []
        out = []
        for graph, sub_field in sources.items():
            args = [f"graph: {self.enum[graph]}"]
            if sub_field.requires:
                args.append(f"requires: {_string(sub_field.requires)}")
            if sub_field.provides:
                args.append(f"provides: {_string(sub_field.provides)}")
            if typed:
                args.append(f"type: {_string(type_text(sub_field.type))}")
            if sub_field.external:
                args.append("external: true")
            if sub_field.override:
                args.append(f"override: {_string(sub_field.override)}")
            if merged_field.overridden.get(graph):
                args.append("usedOverridden: true")
            out.append(f"@join__field({', '.join(args)})")
        return out
