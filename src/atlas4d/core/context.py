"""The per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
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

    @classmethod
    def create(cls, pool: asyncpg.Pool, settings: Settings, request_id: str | None = None) -> Context:
        ctx = cls(pool, settings, Loaders(pool))
        if request_id:
            ctx.request_id = request_id
        return ctx


Info = strawberry.Info[Context, None]
