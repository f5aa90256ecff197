"""A least-recently-used cache bounded in bytes, for everything kept per query text.

Issue 12: the parse cache held 1,024 entries whatever their size, so 40 distinct 5 MB documents (a long comment or
string is few tokens) kept 600 MB for good. Every cache keyed by a document now charges each entry its weight —
the text plus ~400 bytes per lexical token for the parsed tree (measured with tracemalloc: 376 bytes a token on an
8,400-token document) — and drops the least recently used entries past its budget (`ATLAS4D_CACHE_BYTES` each).
An entry heavier than an eighth of the budget is not kept at all: it would evict a whole working set of ordinary
queries, and such documents are not the ones repeated.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from graphql import DocumentNode

K = TypeVar("K")
V = TypeVar("V")

BYTES_PER_TOKEN = 400
DEFAULT_BUDGET = 32 * 1024 * 1024


class ByteLRU(Generic[K, V]):
    def __init__(self, budget: int = DEFAULT_BUDGET, max_entries: int | None = None) -> None:
        self.budget = budget
        self.max_entries = max_entries
        self.bytes = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, weight: int) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        if weight > self.budget // 8:
            return
        self._entries[key] = (value, weight)
        self.bytes += weight
        while self.bytes > self.budget or (
            self.max_entries is not None and len(self._entries) > self.max_entries
        ):
            _, (_, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


def document_weight(text: str, document: DocumentNode | None = None) -> int:
    """Bytes a cached document costs: its text, and its parsed tree when there is one."""
    tokens = 0
    token = document.loc.start_token if document is not None and document.loc is not None else None
    while token is not None:
        tokens += 1
        token = token.next
    return len(text) + 64 + BYTES_PER_TOKEN * tokens
