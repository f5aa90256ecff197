"""`ratings`: a subgraph with failures: some fields raise, and its HTTP server can go down or slow."""

from __future__ import annotations

import strawberry

from atlas4d.federation.subgraph import federation_schema


@strawberry.federation.type(keys=["upc"], extend=True)
class Product:
    upc: strawberry.ID = strawberry.federation.field(external=True)

    @strawberry.field
    def stars(self) -> int | None:
        if self.upc == "3":
            raise ValueError("no ratings for product 3")
        return int(self.upc) % 5 + 1

    @strawberry.field
    def rating_label(self) -> str:
        if self.upc == "2":
            raise ValueError("label service failed")
        return f"label-{self.upc}"

    @classmethod
    def resolve_reference(cls, upc: strawberry.ID) -> Product:
        return Product(upc=upc)


@strawberry.type
class Query:
    @strawberry.field
    def ratings_version(self) -> str:
        return "1"

    @strawberry.field
    def top_rated(self) -> list[Product]:
        return [Product(upc=strawberry.ID(upc)) for upc in ("4", "1")]


def schema() -> strawberry.federation.Schema:
    return federation_schema(query=Query, types=[Product])
