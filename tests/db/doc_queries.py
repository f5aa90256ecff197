"""The GraphQL examples of a Markdown page, as a test runs them.

Every ```graphql block is one operation. A ```json block that follows it with only prose between them (such as
"with variables") holds its variables. Operations on `_service` or `_entities` go to the core subgraph's own
endpoint, since the gateway's API schema does not expose them; all others go to `/graphql`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
# prose allowed between an operation and its variables: one short paragraph, no heading
VARIABLES_GAP = re.compile(r"\A[^#]{0,200}\Z")


@dataclass(frozen=True)
class DocQuery:
    source: str  # "docs/api.md:12" (the line of the block's opening fence)
    text: str
    variables: dict[str, Any] = field(default_factory=dict)

    @property
    def subscription(self) -> bool:
        """Subscriptions need WebSocket or SSE (tests/streaming/test_doc_subscriptions.py runs them)."""
        return re.match(r"\s*subscription\b", self.text) is not None

    @property
    def endpoint(self) -> str:
        if re.search(r"\b_(service|entities)\b", self.text):
            return "/subgraphs/core/graphql"
        return "/graphql"


def doc_queries(path: Path) -> list[DocQuery]:
    text = path.read_text(encoding="utf-8")
    blocks = list(BLOCK.finditer(text))
    out = []
    for i, block in enumerate(blocks):
        if block.group(1) != "graphql":
            continue
        variables: dict[str, Any] = {}
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if following is not None and following.group(1) == "json":
            gap = text[block.end() : following.start()]
            if VARIABLES_GAP.match(gap):
                variables = json.loads(following.group(2))
        line = text.count("\n", 0, block.start()) + 1
        out.append(DocQuery(f"{path.relative_to(ROOT)}:{line}", block.group(2), variables))
    return out
