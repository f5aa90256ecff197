"""The per-request context handed to every resolver."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import asyncpg
import strawberry

from atlas4d.core.loaders import Loaders
from atlas4d.settings import Settings


@dataclass
class Context:
    pool: asyncpg.Pool
    settings: Settings
    loaders: Loaders
    request_id: str = field(default_factory=lambda: uuid4().hex[:16])
    # who is calling (atlas4d.auth.Principal), verified once by the HTTP layer; None outside a request
    principal: Any = None
    loader_factories: Mapping[str, Callable[[asyncpg.Pool], Any]] = field(default_factory=dict)
    _module_loaders: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        pool: asyncpg.Pool,
        settings: Settings,
        request_id: str | None = None,
        loader_factories: Mapping[str, Callable[[asyncpg.Pool], Any]] | None = None,
        principal: Any = None,
    ) -> Context:
        ctx = cls(pool, settings, Loaders(pool), loader_factories=loader_factories or {}, principal=principal)
        if request_id:
            ctx.request_id = request_id
        return ctx

    def module_loaders(self, name: str) -> Any:
        """The per-request loaders of module `name` (built on first use, shared by its resolvers)."""
        loaders = self._module_loaders.get(name)
        if loaders is None:
            loaders = self.loader_factories[name](self.pool)
            self._module_loaders[name] = loaders
        return loaders


Info = strawberry.Info[Context, None]
