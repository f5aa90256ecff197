"""Build and serve Strawberry Federation 2 subgraphs.

Every subgraph declares Federation 2.7: Apollo composition and The Guild's composition both accept it, and it has
everything we use (`@interfaceObject`, `@override`, `@inaccessible`, `@composeDirective`).

    schema = federation_schema(query=Query, types=[Product])
    app = subgraph_app(schema)          # ASGI app answering POST /graphql, incl. `_service { sdl }`, `_entities`
    sdl = subgraph_sdl(schema)          # the subgraph SDL composition reads

Entities: give the type a `resolve_reference` classmethod. Strawberry calls it once per representation, so batch
behind it (a DataLoader), as the core subgraph does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import strawberry
from graphql import ExecutionResult, GraphQLSchema, execute, parse
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

from atlas4d.federation.errors import FederationError

FEDERATION_VERSION: Final = "2.7"


def federation_schema(
    query: type,
    mutation: type | None = None,
    types: Iterable[type] = (),
    **kwargs: Any,
) -> strawberry.federation.Schema:
    """A Strawberry federation schema that declares our pinned Federation version."""
    return strawberry.federation.Schema(
        query=query, mutation=mutation, types=list(types), federation_version=FEDERATION_VERSION, **kwargs
    )


def subgraph_sdl(schema: object) -> str:
    """The SDL the subgraph publishes through `_service { sdl }`."""
    graphql_schema = schema if isinstance(schema, GraphQLSchema) else getattr(schema, "_schema", None)
    if not isinstance(graphql_schema, GraphQLSchema):
        raise TypeError("not a GraphQL schema")
    result = execute(graphql_schema, parse("{ _service { sdl } }"))
    if not isinstance(result, ExecutionResult) or result.errors or not result.data:
        raise FederationError("the schema does not answer `_service { sdl }`: is it a federation schema?")
    return str(result.data["_service"]["sdl"])


def subgraph_app(
    schema: strawberry.Schema, path: str = "/graphql", *, graphql_ide: bool = False
) -> Starlette:
    """An ASGI app serving one subgraph at `path` (what Apollo Router or Hive Gateway would call)."""
    graphql_app: GraphQL[Any, Any] = GraphQL(schema, graphql_ide="graphiql" if graphql_ide else None)
    return Starlette(routes=[Route(path, graphql_app, methods=["GET", "POST"])])
