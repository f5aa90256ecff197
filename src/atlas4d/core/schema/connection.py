"""Cursor connections (Relay style) with `nodes` for map clients and a lazily counted `totalCount`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import asyncpg
import strawberry

from atlas4d.core.context import Info
from atlas4d.core.queries import Page, count

T = TypeVar("T")


@strawberry.type(
    description="Relay's PageInfo. Pages go forward (`first`/`after`): `hasPreviousPage` is true when the page "
    "was asked for `after` a cursor."
)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None = strawberry.field(description="The cursor of the page's first node.")
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last node: pass it as `after` for the next page."
    )


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
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        ),
        _page=page,
    )
