"""Roles → permissions, and which permission each type or field needs: the policy file.

    roles:                      # role -> permissions (read, write, ingest, admin, or names of your own)
      reader: [read]
      analyst: [read, sensitive]
    fields:                     # "Type.field" or "Type" -> permissions needed (all of them)
      Entity.properties: [sensitive]
    policies:                   # names used by @policy in a supergraph -> roles that satisfy them
      fleet-ops: [admin, analyst]

Without a file the built-in roles below apply. Root Query fields need `read`; Mutation fields need `write`,
except ingest mutations, which need `ingest`; a field rule in the file replaces these defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from atlas4d.errors import Atlas4DError

DEFAULT_ROLES: dict[str, frozenset[str]] = {
    "reader": frozenset({"read"}),
    "writer": frozenset({"read", "write"}),
    "ingester": frozenset({"read", "ingest"}),
    "admin": frozenset({"read", "write", "ingest", "admin"}),
}

# mutations that store observations need `ingest`, not `write` (REST POST and bulk ingest too)
INGEST_MUTATIONS = frozenset({"ingestObservations"})


class PolicyError(Atlas4DError):
    code = "POLICY_INVALID"
    http_status = 500


@dataclass(frozen=True)
class Policy:
    roles: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_ROLES))
    fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    policies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    max_cost: Mapping[str, int] = field(default_factory=dict)  # role -> its own ATLAS4D_MAX_COST

    def max_cost_of(self, roles: Iterable[str]) -> int | None:
        """The highest cost limit among the roles that have one (None: the server's limit applies)."""
        limits = [self.max_cost[r] for r in roles if r in self.max_cost]
        return max(limits) if limits else None

    def permissions_of(self, roles: Iterable[str]) -> frozenset[str]:
        out: set[str] = set()
        for role in roles:
            out |= self.roles.get(role, frozenset())
        return frozenset(out)

    def needs(self, type_name: str, field_name: str, root: str | None) -> frozenset[str]:
        """Permissions a field needs: its rule, its type's rule, or the root default."""
        rule = self.fields.get(f"{type_name}.{field_name}")
        if rule is not None:
            return rule
        needs = set(self.fields.get(type_name, frozenset()))
        if root == "query" and not field_name.startswith("__"):
            needs.add("read")
        elif root == "mutation":
            needs.add("ingest" if field_name in INGEST_MUTATIONS else "write")
        return frozenset(needs)

    def satisfies(self, policy_name: str, roles: frozenset[str], permissions: frozenset[str]) -> bool:
        """A `@policy` name holds when a role listed for it in the file, or a permission of that name, is held."""
        allowed = self.policies.get(policy_name)
        if allowed is not None and allowed & (roles | permissions):
            return True
        return policy_name in permissions


def _names(value: Any, where: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise PolicyError(f"policy file: {where} must be a name or a list of names")


def _section(doc: Mapping[str, Any], key: str) -> dict[str, frozenset[str]]:
    raw = doc.get(key) or {}
    if not isinstance(raw, dict):
        raise PolicyError(f"policy file: `{key}` must be a mapping")
    return {str(k): _names(v, f"{key}.{k}") for k, v in raw.items()}


def parse_policy(text: str) -> Policy:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file is not YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise PolicyError("policy file must be a mapping with `roles`, `fields`, `policies`")
    unknown = set(doc) - {"roles", "fields", "policies", "limits"}
    if unknown:
        raise PolicyError(f"policy file: unknown keys {sorted(unknown)}")
    roles = _section(doc, "roles") if "roles" in doc else dict(DEFAULT_ROLES)
    return Policy(roles, _section(doc, "fields"), _section(doc, "policies"), _limits(doc.get("limits") or {}))


def _limits(raw: Any) -> dict[str, int]:
    """`limits: {role: {max_cost: N}}`."""
    if not isinstance(raw, dict):
        raise PolicyError("policy file: `limits` must map roles to {max_cost: N}")
    out: dict[str, int] = {}
    for role, limits in raw.items():
        if not isinstance(limits, dict) or set(limits) - {"max_cost"}:
            raise PolicyError(f"policy file: limits.{role} takes `max_cost` only")
        value = limits.get("max_cost")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PolicyError(f"policy file: limits.{role}.max_cost must be a positive integer")
        out[str(role)] = value
    return out


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return Policy()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file {path}: {exc.strerror}") from None
    return parse_policy(text)
