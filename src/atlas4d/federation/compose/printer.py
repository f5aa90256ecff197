"""Print merged types as a supergraph SDL, byte for byte as @apollo/composition prints the same subgraphs.

Layout: the schema with its `@link`s (link, join, then the features in use), every directive definition sorted by
name, then every type (ours and the specs') sorted by name ignoring case. On an element: `@join__*` directives
(`@inaccessible` before `@join__field` on fields and enum values, after `@join__type` on types), then the carried
directives merged across subgraphs (directives.py).
"""

from __future__ import annotations

import re

from graphql import print_ast
from graphql.language import ast

from atlas4d.federation.compose.directives import (
    AUTH_SCALARS,
    REPEATABLE,
    composed_directives,
    feature_definitions,
    feature_links,
    join_version,
    merge_applications,
)
from atlas4d.federation.compose.merge import MergedField, MergedType, Merger, type_text
from atlas4d.federation.compose.model import SubField

JOIN_FIELD_ARGUMENTS = {
    "v0.3": "graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, "
    "override: String, usedOverridden: Boolean",
}
JOIN_FIELD_ARGUMENTS["v0.4"] = JOIN_FIELD_ARGUMENTS["v0.3"] + ", overrideLabel: String"
JOIN_FIELD_ARGUMENTS["v0.5"] = JOIN_FIELD_ARGUMENTS["v0.4"] + ", contextArguments: [join__ContextArgument!]"

JOIN_DIRECTIVES = {
    "join__directive": "directive @join__directive(graphs: [join__Graph!], name: String!, args: "
    "join__DirectiveArguments) repeatable on SCHEMA | OBJECT | INTERFACE | FIELD_DEFINITION",
    "join__enumValue": "directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE",
    "join__field": "directive @join__field({arguments}) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION",
    "join__graph": "directive @join__graph(name: String!, url: String!) on ENUM_VALUE",
    "join__implements": "directive @join__implements(graph: join__Graph!, interface: String!) repeatable on "
    "OBJECT | INTERFACE",
    "join__type": "directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, "
    "resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | "
    "ENUM | INPUT_OBJECT | SCALAR",
    "join__unionMember": "directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION",
    "link": "directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on "
    "SCHEMA",
}

SPEC_TYPES = {
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
CONTEXT_TYPES = {
    "join__ContextArgument": """input join__ContextArgument {{
  name: String!
  type: String!
  context: String!
  selection: join__FieldValue!
}}""",
    "join__FieldValue": "scalar join__FieldValue",
}


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


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _description(text: str | None, indent: str) -> str:
    if not text:
        return ""
    return f'{indent}"""\n{indent}{text}\n{indent}"""\n'


def _printed(directives: list[ast.DirectiveNode]) -> list[str]:
    """`@inaccessible` first (where it is among the carried ones: arguments), the rest in order."""
    inaccessible = [d for d in directives if d.name.value == "inaccessible"][:1]
    return [print_ast(d) for d in inaccessible] + [print_ast(d) for d in directives if d not in inaccessible]


class SupergraphPrinter:
    def __init__(self, merger: Merger, types: dict[str, MergedType]) -> None:
        self.merger = merger
        self.types = types
        self.enum = graph_enum_names([s.name for s in merger.subgraphs])
        self.version = join_version(merger.subgraphs)
        self.composed = composed_directives(merger.subgraphs)
        self.repeatable = REPEATABLE | {n for n, d in self.composed.items() if d.definition.repeatable}
        self.used: set[str] = set()  # carried directives applied somewhere

    def merged(self, per_subgraph: list[tuple[ast.DirectiveNode, ...]]) -> list[ast.DirectiveNode]:
        directives = merge_applications(per_subgraph, self.repeatable)
        self.used.update(d.name.value for d in directives)
        return directives

    def print(self) -> str:
        blocks = [(t.name, self._type(t)) for t in self.types.values()]  # first: it finds the features used
        inaccessible = any(
            t.inaccessible
            or any(f.inaccessible for mf in t.fields.values() for f in mf.sources.values())
            or any(f.inaccessible for s in t.sources.values() for f in s.values.values())
            for t in self.types.values()
        )
        if inaccessible:
            self.used.add("inaccessible")
        roots = [
            f"  {op}: {op.capitalize()}"
            for op in ("query", "mutation", "subscription")
            if op.capitalize() in self.types
        ]
        links = [
            '@link(url: "https://specs.apollo.dev/link/v1.0")',
            f'@link(url: "https://specs.apollo.dev/join/{self.version}", for: EXECUTION)',
            *feature_links(self.used, self.composed),
        ]
        head = "schema\n" + "".join(f"  {link}\n" for link in links) + "{\n" + "\n".join(roots) + "\n}\n"
        directives = dict(JOIN_DIRECTIVES)
        directives["join__field"] = directives["join__field"].format(
            arguments=JOIN_FIELD_ARGUMENTS[self.version]
        )
        if self.version == "v0.3":
            del directives["join__directive"]
        directives.update(feature_definitions(self.used, self.composed))
        definitions = [text for _, text in sorted(directives.items(), key=lambda item: item[0].lower())]
        graphs = "\n".join(
            f"  {self.enum[s.name]} @join__graph(name: {_string(s.name)}, url: {_string(s.url)})"
            for s in self.merger.subgraphs
        )
        specs = dict(SPEC_TYPES)
        if self.version == "v0.3":
            del specs["join__DirectiveArguments"]
        if self.version == "v0.5":
            specs.update(CONTEXT_TYPES)
        if "context" in self.used:
            specs["context__ContextFieldValue"] = "scalar context__ContextFieldValue"
        specs.update(
            (scalar, f"scalar {scalar}") for name, scalar in AUTH_SCALARS.items() if name in self.used
        )
        blocks += [(name, text.format(graphs=graphs)) for name, text in specs.items()]
        blocks.sort(key=lambda block: block[0].lower())
        return head + "\n" + "\n\n".join(definitions) + "\n\n" + "\n\n".join(text for _, text in blocks)

    def _type_directives(self, merged: MergedType) -> list[str]:
        out = []
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
        if merged.inaccessible:
            out.append("@inaccessible")
        out += [print_ast(d) for d in self.merged([s.directives for s in merged.sources.values()])]
        return out

    def _type(self, merged: MergedType) -> str:
        keyword = {"object": "type", "input": "input"}.get(merged.kind, merged.kind)
        head = _description(merged.description, "") + f"{keyword} {merged.name}"
        if merged.kind in ("object", "interface"):
            interfaces = [i for i in merged.interfaces if i in self.types]
            if interfaces:
                head += " implements " + " & ".join(interfaces)
        head += "".join("\n  " + d for d in self._type_directives(merged))
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
            if any(s.inaccessible for s in subs):
                text += " @inaccessible"
            text += "".join(f" @join__enumValue(graph: {self.enum[g]})" for g in graphs)
            text += "".join(" " + print_ast(d) for d in self.merged([s.directives for s in subs]))
            lines.append(text)
        return "\n".join(lines)

    def _arguments(self, merged_field: MergedField) -> str:
        if not merged_field.arguments:
            return ""
        printed = []
        described = any(a.description is not None for a in merged_field.arguments)
        for argument in merged_field.arguments:
            name = argument.name.value
            text = f"{name}: {type_text(argument.type)}"
            if argument.default_value is not None:
                text += f" = {print_ast(argument.default_value)}"
            carried = self.merged(
                [f.argument_directives.get(name, ()) for f in merged_field.sources.values()]
            )
            text += "".join(" " + d for d in _printed(carried))
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
            if any(f.inaccessible for f in sources.values()):
                text += " @inaccessible"
            text += "".join(" " + j for j in self._join_fields(merged, merged_field))
            carried = self.merged([f.directives for f in sources.values()])
            text += "".join(" " + print_ast(d) for d in carried)
            lines.append(text)
        return "\n".join(lines)

    def _join_fields(self, merged: MergedType, merged_field: MergedField) -> list[str]:
        sources = merged_field.sources
        if not sources:
            return ["@join__field"]
        merged_type = type_text(merged_field.type)
        typed = any(type_text(f.type) != merged_type for f in sources.values())
        special = typed or any(
            f.external or f.requires or f.provides or f.override or f.context_arguments
            for f in sources.values()
        )
        labels = merged_field.override_labels
        if not special and not merged_field.overridden and not labels and len(sources) == len(merged.sources):
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
            label = sub_field.override_label if sub_field.override else labels.get(graph)
            if label:
                args.append(f"overrideLabel: {_string(label)}")
            if sub_field.context_arguments:
                arguments = ", ".join(
                    f"{{context: {_string(c.context)}, name: {_string(c.name)}, type: {_string(c.type)}, "
                    f"selection: {_string(c.selection)}}}"
                    for c in sub_field.context_arguments
                )
                args.append(f"contextArguments: [{arguments}]")
            out.append(f"@join__field({', '.join(args)})")
        return out
