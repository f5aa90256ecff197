"""Compose federation subgraph SDLs into a supergraph SDL in Apollo's format (link v1.0; join v0.3 to v0.5, as
Apollo picks it by the newest federation version the subgraphs link; Federation 1 subgraphs are upgraded).

    sdl = compose([SubgraphSource("products", "http://products/graphql", products_sdl), ...])

Raises `CompositionError` listing every rule broken, each naming subgraphs and the type/field concerned.
This is our own composition, checked against `@apollo/composition` in the tests; see docs/federation.md for the
rules it checks and those it does not yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from atlas4d.federation.compose.merge import Merger
from atlas4d.federation.compose.model import SubType, read_subgraph
from atlas4d.federation.compose.printer import SupergraphPrinter, graph_enum_names
from atlas4d.federation.compose.rules import check
from atlas4d.federation.errors import CompositionError, CompositionIssue

__all__ = ["CompositionError", "CompositionIssue", "SubgraphSource", "compose", "graph_enum_names"]


@dataclass(frozen=True)
class SubgraphSource:
    name: str
    url: str
    sdl: str


def compose(subgraphs: list[SubgraphSource]) -> str:
    """The supergraph SDL of the subgraphs; raises CompositionError when a rule is broken."""
    if not subgraphs:
        raise CompositionError([CompositionIssue("NO_SUBGRAPHS", "no subgraphs to compose")])
    models = [read_subgraph(s.name, s.url, s.sdl) for s in subgraphs]
    for model in models:  # every subgraph has a query root (`_service`, `_entities`), as Apollo counts it
        model.types.setdefault(model.roots["query"], SubType(model.roots["query"], "object"))
    merger = Merger(models)
    types = merger.merge()
    check(merger)
    if merger.issues:
        raise CompositionError(merger.issues)
    return SupergraphPrinter(merger, types).print()
