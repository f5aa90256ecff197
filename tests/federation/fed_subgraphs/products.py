"""`products`: owns Product (two keys, one compound), Book, the Publication interface and SearchResult union."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import strawberry

from atlas4d.federation.subgraph import federation_schema
from fed_subgraphs.state import MUTATIONS


@strawberry.federation.type(shareable=True)
class Package:
    id: strawberry.ID


@strawberry.federation.type(shareable=True)
class ProductDimension:
    size: str | None
    weight: float | None


@strawberry.federation.type(shareable=True)
class Receipt:
    seq: int
    subgraph: str


@strawberry.enum
class Category(enum.Enum):
    GADGET = "GADGET"
    TOOL = "TOOL"
    PROTOTYPE = strawberry.federation.enum_value("PROTOTYPE", inaccessible=True)


@strawberry.federation.type(keys=["upc", "sku pkg { id }"])
class Product:
    upc: strawberry.ID
    sku: str
    pkg: Package
    name: str
    price: int
    weight: int
    dimensions: ProductDimension
    internal_code: str = strawberry.federation.field(inaccessible=True)
    category: Category | None = None
    top_review_score: int = -1  # overridden by `reviews`: a gateway asking products for it is wrong

    @strawberry.federation.field(shareable=True)
    def price_in(self, currency: str) -> float:
        return round(self.price * {"EUR": 0.9, "USD": 1.0}.get(currency, 2.0), 2)

    @classmethod
    def resolve_reference(cls, **representation: Any) -> Product | None:
        for product in PRODUCTS:
            if representation.get("upc") == product.upc:
                return product
            pkg = representation.get("pkg") or {}
            if representation.get("sku") == product.sku and pkg.get("id") == product.pkg.id:
                return product
        return None


def _product(n: int) -> Product:
    return Product(
        upc=strawberry.ID(str(n)),
        sku=f"SKU-{n}",
        pkg=Package(id=strawberry.ID(f"pkg-{n % 2}")),
        name=f"Product {n}",
        price=100 * n,
        weight=3 * n,
        dimensions=ProductDimension(size="large" if n % 2 else "small", weight=1.5 * n),
        internal_code=f"internal-{n}",
        category=[Category.GADGET, Category.TOOL, Category.PROTOTYPE][n % 3],
    )


PRODUCTS = [_product(n) for n in range(1, 7)]


@strawberry.federation.interface
class Publication:
    id: strawberry.ID
    title: str


@strawberry.federation.type(keys=["id"])
class Book(Publication):
    title: str = strawberry.federation.field(shareable=True)  # `reviews` provides it on mentions
    year: int = 0

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Book | None:
        return next((b for b in BOOKS if b.id == id), None)


BOOKS = [
    Book(id=strawberry.ID("b1"), title="Dune", year=1965),
    Book(id=strawberry.ID("b2"), title="Solaris", year=1961),
]

SearchResult = Annotated[Product | Book, strawberry.union("SearchResult")]


@strawberry.type
class Viewer:
    region: str = strawberry.federation.field(shareable=True)

    @strawberry.field
    def cart(self) -> list[Product]:
        return PRODUCTS[1:3]


@strawberry.type
class Query:
    @strawberry.federation.field(shareable=True)
    def viewer(self) -> Viewer:
        return Viewer(region="EU")

    @strawberry.field
    def top_products(self, first: int = 5) -> list[Product]:
        return PRODUCTS[:first]

    @strawberry.federation.field(shareable=True)
    def product(self, upc: strawberry.ID) -> Product | None:
        return next((p for p in PRODUCTS if p.upc == upc), None)

    @strawberry.field
    def publications(self) -> list[Publication]:
        return list(BOOKS)

    @strawberry.field
    def search(self, term: str) -> list[SearchResult]:
        found: list[Product | Book] = [p for p in PRODUCTS if term.lower() in p.name.lower()]
        found += [b for b in BOOKS if term.lower() in b.title.lower()]
        return found


@strawberry.type
class Mutation:
    @strawberry.mutation
    def add_product(self, name: str) -> Receipt:
        return Receipt(seq=MUTATIONS.record(f"products:{name}"), subgraph="products")


def schema() -> strawberry.federation.Schema:
    return federation_schema(query=Query, mutation=Mutation, types=[Book, Product])
