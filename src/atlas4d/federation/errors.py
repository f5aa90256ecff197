"""Errors raised by the federation package (each maps to a stable `extensions.code`)."""

from __future__ import annotations


class FederationError(Exception):
    """Base of the federation errors."""

    code = "FEDERATION_ERROR"


class SupergraphError(FederationError):
    """The supergraph SDL is missing, malformed, or not a Federation 2 supergraph."""

    code = "INVALID_SUPERGRAPH"


class PlanningError(FederationError):
    """The operation cannot be planned over the subgraphs (should not happen for a valid supergraph)."""

    code = "QUERY_PLANNING_FAILED"


class CompositionError(FederationError):
    """Subgraph SDLs that cannot be composed; `errors` lists each broken rule."""

    code = "COMPOSITION_FAILED"

    def __init__(self, errors: list[CompositionIssue]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class CompositionIssue:
    """One composition rule broken: a stable code (Apollo's where one exists), a message naming subgraphs."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"CompositionIssue({self.code!r}, {self.message!r})"
