"""Where the server is, and the original Atlas4D SDK's `RAGAnswer`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PORT = 4000


def base_url(host: str | None, port: int | None, url: str | None) -> str:
    """`url`, else `ATLAS4D_URL`, else `http://{host}:{port}` with the original SDK's environment variables
    `ATLAS4D_HOST` (default localhost) and `ATLAS4D_PORT` (default 4000, the gateway's port; the original
    Core API listened on 8090). A `host` with a scheme is taken as the URL."""
    if url is None and host is not None and host.startswith(("http://", "https://")):
        url = host if port is None else f"{host.rstrip('/')}:{port}"
    if url is None and host is None and port is None:
        url = os.environ.get("ATLAS4D_URL")
    if url is not None:
        return url.rstrip("/")
    host = host or os.environ.get("ATLAS4D_HOST") or "localhost"
    port = port or int(os.environ.get("ATLAS4D_PORT") or DEFAULT_PORT)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}"


def user_agent() -> str:
    from atlas4d_client import __version__

    return f"atlas4d-client/{__version__}"


@dataclass(frozen=True)
class RAGAnswer:
    """The original SDK's answer to `ask()`: `text`, `sources`, `chunks_used`."""

    text: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    chunks_used: int = 0

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RAGAnswer:
        return cls(str(raw.get("answer", "")), list(raw.get("sources", [])), int(raw.get("chunks_used", 0)))

    def __repr__(self) -> str:
        return f"RAGAnswer({self.text[:50]!r}, {len(self.sources)} sources)"
