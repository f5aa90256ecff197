"""`reviews`: extends Product (@requires, @override), provides User.username, owns Magazine and an
@interfaceObject view of the Account interface."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from atlas4d.federation.subgraph import federation_schema
from fed_subgraphs.state import MUTATIONS


@strawberry.federation.type(shareable=True)
class Receipt:
    seq: int
    subgraph: str


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    username: str | None = strawberry.federation.field(external=True, default=None)

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [r for r in REVIEWS if r.author_id == self.id]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return User(id=id)


@strawberry.federation.type(keys=["id"])
class Review:
    id: strawberry.ID
    body: str
    author_id: strawberry.Private[str]
    product_upc: strawberry.Private[str]

    @strawberry.federation.field(provides=["... on Book { title }"])
    def mentions(self) -> list[Mention]:
        # Books come with their title (provided); magazines are this subgraph's own.
        if self.id == "r1":
            return [Book(id=strawberry.ID("b1"), title="Dune"), MAGAZINES[0]]
        return []

    @strawberry.federation.field(provides=["username"])
    def author(self) -> User:
        return User(id=strawberry.ID(self.author_id), username=USERNAMES[self.author_id])

    @strawberry.field
    def product(self) -> Product:
        return Product(upc=strawberry.ID(self.product_upc))

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Review | None:
        return next((r for r in REVIEWS if r.id == id), None)


@strawberry.federation.type(keys=["upc"])
class Product:
    upc: strawberry.ID
    price: int = strawberry.federation.field(external=True, default=-1)
    weight: int = strawberry.federation.field(external=True, default=-1)

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [r for r in REVIEWS if r.product_upc == self.upc]

    @strawberry.federation.field(requires=["price weight"])
    def shipping_estimate(self) -> int:
        # Cheap for light or cheap products: proves both required fields arrived.
        assert self.price >= 0 and self.weight >= 0, "requires fields missing"
        return 0 if self.price > 400 else self.weight * 2

    @strawberry.federation.field(override="products")
    def top_review_score(self) -> int:
        return 5 * len(self.reviews())

    @classmethod
    def resolve_reference(cls, **representation: Any) -> Product:
        return Product(
            upc=representation["upc"],
            price=representation.get("price", -1),
            weight=representation.get("weight", -1),
        )


@strawberry.federation.type(keys=["id"])
class Book:
    id: strawberry.ID
    title: str = strawberry.federation.field(external=True, default="")

    @strawberry.field
    def review_count(self) -> int:
        return {"b1": 12, "b2": 3}.get(self.id, 0)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Book:
        return Book(id=id)


@strawberry.federation.interface
class Publication:
    id: strawberry.ID
    title: str


@strawberry.federation.type(keys=["id"])
class Magazine(Publication):
    issue: int

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Magazine | None:
        return next((m for m in MAGAZINES if m.id == id), None)


Mention = Annotated[Book | Magazine, strawberry.union("Mention")]


@strawberry.federation.interface_object(keys=["id"])
class Account:
    id: strawberry.ID

    @strawberry.field
    def balance(self) -> int:
        return BALANCES.get(self.id, 0)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Account:
        return Account(id=id)


USERNAMES = {"u1": "ada", "u2": "alan", "u3": "grace"}
BALANCES = {"a1": 10, "a2": 2500, "a3": 900}
REVIEWS = [
    Review(id=strawberry.ID("r1"), body="Love it", author_id="u1", product_upc="1"),
    Review(id=strawberry.ID("r2"), body="Too heavy", author_id="u2", product_upc="1"),
    Review(id=strawberry.ID("r3"), body="Could be better", author_id="u3", product_upc="2"),
    Review(id=strawberry.ID("r4"), body="Perfect", author_id="u1", product_upc="4"),
]
GHOST = Review(id=strawberry.ID("r9"), body="Of a product nobody sells", author_id="u2", product_upc="99")
MAGAZINES = [Magazine(id=strawberry.ID("m1"), title="Wired", issue=42)]


@strawberry.type
class Viewer:
    region: str = strawberry.federation.field(shareable=True)

    @strawberry.field
    def my_reviews(self) -> list[Review]:
        return [r for r in REVIEWS if r.author_id == "u1"]


@strawberry.type
class Query:
    @strawberry.federation.field(shareable=True)
    def viewer(self) -> Viewer:
        return Viewer(region="EU")

    @strawberry.field
    def top_reviews(self, first: int = 10) -> list[Review]:
        return REVIEWS[:first]

    @strawberry.federation.field(shareable=True)
    def product(self, upc: strawberry.ID) -> Product | None:
        return Product(upc=upc) if any(r.product_upc == upc for r in REVIEWS) else None

    @strawberry.field
    def ghost_review(self) -> Review:
        return GHOST

    @strawberry.field
    def latest_publications(self) -> list[Publication]:
        return list(MAGAZINES)

    @strawberry.field
    def richest_account(self) -> Account:
        return Account(id=strawberry.ID(max(BALANCES, key=BALANCES.__getitem__)))


@strawberry.type
class Mutation:
    @strawberry.mutation
    def add_review(self, body: str) -> Receipt:
        return Receipt(seq=MUTATIONS.record(f"reviews:{body}"), subgraph="reviews")


def schema() -> strawberry.federation.Schema:
    return federation_schema(query=Query, mutation=Mutation, types=[Book, Magazine, Product, User, Account])
