"""The two benchmark subgraphs: `catalog` owns Item (100 of them), `stock` extends Item by key.

Served as ASGI apps (`catalog_app`, `stock_app`) for the remote runs, imported as schemas for in-process runs.
"""

from __future__ import annotations

import strawberry

from atlas4d.federation.subgraph import federation_schema, subgraph_app


@strawberry.federation.type(keys=["id"])
class Item:
    id: strawberry.ID
    name: str
    price: float
    category: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Item:
        return ITEMS[int(id)]


ITEMS = [
    Item(id=strawberry.ID(str(n)), name=f"item {n}", price=n * 1.25, category=f"c{n % 7}")
    for n in range(1000)
]


@strawberry.type
class CatalogQuery:
    @strawberry.field
    def items(self, first: int = 100) -> list[Item]:
        return ITEMS[:first]


@strawberry.federation.type(keys=["id"], name="Item")
class StockItem:
    id: strawberry.ID

    @strawberry.field
    def in_stock(self) -> bool:
        return int(self.id) % 3 != 0

    @strawberry.field
    def warehouse(self) -> str:
        return f"w{int(self.id) % 4}"

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> StockItem:
        return StockItem(id=id)


@strawberry.type
class StockQuery:
    @strawberry.field
    def warehouses(self) -> list[str]:
        return ["w0", "w1", "w2", "w3"]


def catalog_schema() -> strawberry.federation.Schema:
    return federation_schema(query=CatalogQuery, types=[Item])


def stock_schema() -> strawberry.federation.Schema:
    return federation_schema(query=StockQuery, types=[StockItem])


catalog_app = subgraph_app(catalog_schema())
stock_app = subgraph_app(stock_schema())
