"""Cursor connections (Relay style) with `nodes` for map clients and a lazily counted `totalCount`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import asyncpg
import strawberry

from atlas4d.core.context import Info
from atlas4d.core.queries import Page, count

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    nodes: list[T]
    page_info: PageInfo
    _page: strawberry.Private[Page]

    @strawberry.field
    def edges(self) -> list[Edge[T]]:
        return [Edge(cursor=c, node=n) for c, n in zip(self._page.cursors, self.nodes, strict=True)]

    @strawberry.field(description="Matches over all pages (one extra COUNT query, only when asked).")
    async def total_count(self, info: Info) -> int:
        return await count(info.context.pool, self._page)


def connection(page: Page, build: Callable[[asyncpg.Record], T]) -> Connection[T]:
    nodes: Sequence[T] = [build(r) for r in page.rows]
    return Connection(
        nodes=list(nodes),
        page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        _page=page,
    )
