"""Atlas4D Gateway: a GraphQL federation gateway for 4D spatiotemporal data."""

from typing import Any


def _version() -> str:
    """The version hatch-vcs derived from git tags when this copy was built (or installed editable)."""
    try:
        from atlas4d._version import __version__ as built
    except ImportError:  # a source tree that was never built or installed
        return "0.0.0+unknown"
    return str(built)


__version__ = _version()
CORE_SPEC_VERSION = "0.3"

_CLIENT_NAMES = frozenset({"Client", "AsyncClient", "RAGAnswer"})


def __getattr__(name: str) -> Any:
    """`from atlas4d import Client` as with the original Atlas4D SDK: the client lives in its own
    distribution (`atlas4d-client`, package `atlas4d_client`) and is imported only when asked for."""
    if name in _CLIENT_NAMES:
        try:
            import atlas4d_client
        except ImportError as exc:
            raise ImportError(
                f"atlas4d.{name} is the Python client: pip install atlas4d-client (clients/python)"
            ) from exc
        return getattr(atlas4d_client, name)
    raise AttributeError(f"module 'atlas4d' has no attribute {name!r}")
