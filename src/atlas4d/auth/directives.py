"""`@authenticated`, `@requiresScopes` and `@policy` read from a supergraph (ours, or one composed by Apollo's or
The Guild's composition): which type and field coordinates need what. Names follow the supergraph's `@link`
imports, so a renamed import (`{ name: "@authenticated", as: "@auth" }`) is honoured."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    ConstDirectiveNode,
    DocumentNode,
    ListValueNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    ValueNode,
    parse,
)

SPECS = {
    "authenticated": "https://specs.apollo.dev/authenticated/",
    "requiresScopes": "https://specs.apollo.dev/requiresScopes/",
    "policy": "https://specs.apollo.dev/policy/",
}

Alternatives = tuple[frozenset[str], ...]  # any one of these sets, each needed whole (OR of ANDs)


@dataclass
class Requirements:
    """Per coordinate (`Type` or `Type.field`): must be authenticated, scope sets, policy sets."""

    authenticated: set[str] = field(default_factory=set)
    scopes: dict[str, list[Alternatives]] = field(default_factory=dict)
    policies: dict[str, list[Alternatives]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.authenticated or self.scopes or self.policies)


def _link_names(document: DocumentNode) -> dict[str, str]:
    """Local directive name -> spec name ("authenticated", "requiresScopes", "policy")."""
    names: dict[str, str] = {}
    for definition in document.definitions:
        for directive in getattr(definition, "directives", None) or ():
            if directive.name.value != "link":
                continue
            args = {a.name.value: a.value for a in directive.arguments or ()}
            url = args.get("url")
            if not isinstance(url, StringValueNode):
                continue
            for spec, prefix in SPECS.items():
                if not url.value.startswith(prefix):
                    continue
                local = spec
                imports = args.get("import")
                for item in imports.values if isinstance(imports, ListValueNode) else ():
                    if isinstance(item, StringValueNode) and item.value == f"@{spec}":
                        local = spec
                    elif not isinstance(item, StringValueNode):
                        fields = {f.name.value: f.value for f in getattr(item, "fields", ())}
                        name, alias = fields.get("name"), fields.get("as")
                        if isinstance(name, StringValueNode) and name.value == f"@{spec}":
                            local = alias.value.lstrip("@") if isinstance(alias, StringValueNode) else spec
                as_prefix = args.get("as")
                if isinstance(as_prefix, StringValueNode) and local == spec:
                    local = as_prefix.value
                names[local] = spec
    return names


def _alternatives(value: ValueNode | None) -> Alternatives:
    if not isinstance(value, ListValueNode):
        return ()
    out = []
    for inner in value.values:
        names = inner.values if isinstance(inner, ListValueNode) else (inner,)
        out.append(frozenset(v.value for v in names if isinstance(v, StringValueNode)))
    return tuple(out)


def _read(
    req: Requirements, coordinate: str, directives: tuple[ConstDirectiveNode, ...], names: dict[str, str]
) -> None:
    for d in directives:
        spec = names.get(d.name.value)
        if spec == "authenticated":
            req.authenticated.add(coordinate)
        elif spec in ("requiresScopes", "policy"):
            arg = next((a.value for a in d.arguments or () if a.name.value in ("scopes", "policies")), None)
            target = req.scopes if spec == "requiresScopes" else req.policies
            target.setdefault(coordinate, []).append(_alternatives(arg))


def requirements_of_sdl(sdl: str) -> Requirements:
    document = parse(sdl)
    names = _link_names(document)
    req = Requirements()
    if not names:
        return req
    for definition in document.definitions:
        if not isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            continue
        type_name = definition.name.value
        _read(req, type_name, tuple(definition.directives or ()), names)
        for f in getattr(definition, "fields", None) or ():
            _read(req, f"{type_name}.{f.name.value}", tuple(f.directives or ()), names)
    return req
