"""`inventory`: knows Product only by its compound key and needs nested dimensions (@requires)."""

from __future__ import annotations

from typing import Any

import strawberry

from atlas4d.federation.subgraph import federation_schema


@strawberry.federation.type(shareable=True)
class Package:
    id: strawberry.ID


@strawberry.federation.type(shareable=True)
class ProductDimension:
    size: str | None
    weight: float | None


@strawberry.federation.type(keys=["sku pkg { id }"])
class Product:
    sku: str
    pkg: Package
    price_in_eur: strawberry.Private[float | None] = None
    dimensions: ProductDimension = strawberry.federation.field(
        external=True, default_factory=lambda: ProductDimension(size=None, weight=None)
    )

    @strawberry.field
    def in_stock(self) -> bool:
        return not self.sku.endswith(("3", "5"))

    @strawberry.federation.field(requires=["dimensions { size weight }"])
    def delivery(self) -> str:
        assert self.dimensions.size is not None, "requires fields missing"
        days = 2 if self.dimensions.size == "small" else 5
        # float(): over JSON a whole Float may arrive as an int (JavaScript numbers).
        return f"{days} days, {float(self.dimensions.weight or 0):.1f} kg"

    @strawberry.federation.field(external=True)
    def price_in(self, currency: str) -> float:
        return self.price_in_eur if self.price_in_eur is not None else -1.0

    shipping_estimate: int = strawberry.federation.field(external=True, default=-1)

    @strawberry.federation.field(requires=["shippingEstimate"])
    def freight_class(self) -> str:
        # shippingEstimate itself @requires price and weight from products: a chain of @requires.
        assert self.shipping_estimate >= 0, "requires fields missing"
        return "free" if self.shipping_estimate == 0 else f"class-{self.shipping_estimate // 10}"

    @strawberry.federation.field(requires=['priceIn(currency: "EUR")'])
    def customs_note(self) -> str:
        assert self.price_in_eur is not None, "requires fields missing"
        return f"{self.sku}: declare {self.price_in_eur:.2f} EUR"

    @classmethod
    def resolve_reference(cls, **representation: Any) -> Product:
        dims = representation.get("dimensions")
        return Product(
            sku=representation["sku"],
            pkg=Package(id=representation["pkg"]["id"]),
            dimensions=ProductDimension(size=(dims or {}).get("size"), weight=(dims or {}).get("weight")),
            price_in_eur=representation.get("priceIn"),
            shipping_estimate=representation.get("shippingEstimate", -1),
        )


@strawberry.type
class Query:
    @strawberry.field
    def warehouse_name(self) -> str:
        return "Central"


def schema() -> strawberry.federation.Schema:
    return federation_schema(query=Query, types=[Product])
