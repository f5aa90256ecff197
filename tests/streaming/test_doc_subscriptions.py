"""Every subscription in README and docs/ starts on a real server over WebSocket (the HTTP doc-query runner of
tests/db skips them: subscriptions need WebSocket or SSE)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from ws_client import connect

from live_server import in_process

ROOT = Path(__file__).resolve().parents[2]


def documented_subscriptions() -> list[Any]:
    spec = importlib.util.spec_from_file_location("doc_queries", ROOT / "tests" / "db" / "doc_queries.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("doc_queries", module)
    spec.loader.exec_module(module)
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [q for page in pages for q in module.doc_queries(page) if q.subscription]


async def test_every_documented_subscription_starts(database_url: str) -> None:
    queries = documented_subscriptions()
    assert {q.source.split(":")[0] for q in queries} >= {"docs/api.md", "docs/streaming.md"}
    with in_process(database_url) as base:
        async with connect(base) as client:
            await client.init()
            for q in queries:
                await client.subscribe(q.text, q.variables or None)  # a pong with no error before it
