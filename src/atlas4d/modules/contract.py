"""The module contract: what a module (ours or a third party's) gives the platform.

A module is a distribution that declares an entry point in the group `atlas4d.modules` pointing at a
`Module` object (or a function returning one). Our reference modules are registered in our own
pyproject.toml exactly the same way. A module depends on core, never on another module: it extends core
types by key in its own subgraph, and owns the schema `atlas4d_<name>`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.abc import Traversable
from typing import TYPE_CHECKING, Any

import asyncpg
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version
from pydantic_settings import BaseSettings

if TYPE_CHECKING:
    from atlas4d.streaming.derived import DerivedTopic

NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


@dataclass(frozen=True)
class SeedSummary:
    """What a demo seed stored, by table (shown by `atlas4d demo`)."""

    rows: dict[str, int]


SubgraphFactory = Callable[[], Any]  # -> strawberry.federation.Schema
LoaderFactory = Callable[[asyncpg.Pool], Any]  # -> the module's per-request loaders object
SeedFunction = Callable[[asyncpg.Connection, int], Awaitable[SeedSummary]]  # (conn, seed) -> summary
# -> the sources of the module's subscription fields (atlas4d.streaming.derived, docs/streaming.md)
LiveTopicsFactory = Callable[[], "Sequence[DerivedTopic]"]


@dataclass(frozen=True)
class Module:
    name: str
    display_name: str
    version: str
    core_versions: str  # a PEP 440 specifier set, e.g. ">=0.1,<0.2"
    description: str
    category: str
    subgraph: SubgraphFactory
    loaders: LoaderFactory | None = None
    migrations: Traversable | None = None
    seed: SeedFunction | None = None
    settings: type[BaseSettings] | None = None
    requires: tuple[str, ...] = ()
    live_topics: LiveTopicsFactory | None = None
    author: str = ""
    license: str = ""
    repository: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db_schema(self) -> str:
        return f"atlas4d_{self.name}"

    def problems(self, core_version: str) -> list[str]:
        """Why this module cannot run with this core (empty when it can)."""
        out = []
        if not NAME.match(self.name):
            out.append(f"module name {self.name!r} must be lower-case letters, digits and _ (2-31 chars)")
        try:
            spec = SpecifierSet(self.core_versions)
        except InvalidSpecifier:
            out.append(
                f"core_versions {self.core_versions!r} is not a version specifier such as '>=0.1,<0.2'"
            )
        else:
            # a development build between releases (0.1.1.dev5+g1a2b3c, from git) is judged as its release
            if Version(Version(core_version).base_version) not in spec:
                out.append(
                    f"module {self.name} {self.version} needs Atlas4D core {self.core_versions}, "
                    f"this is core {core_version}"
                )
        try:
            Version(self.version)
        except ValueError:
            out.append(f"version {self.version!r} is not a version number")
        return out
