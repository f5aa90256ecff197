"""What every set of per-request DataLoaders needs, core's and each module's: a cache of loaders keyed by
name (and arguments), and the two ways of returning a batch's rows in key order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Coroutine, Hashable, Sequence
from typing import Any

import asyncpg
from aiodataloader import DataLoader

from atlas4d.observe import metrics, tracing

Row = asyncpg.Record
BatchFunction = Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]
MAX_BATCH = 10_000


def by_key(rows: Sequence[Row], keys: Sequence[Any], column: str) -> list[Row | None]:
    """One row (or None) per key, in key order."""
    found = {r[column]: r for r in rows}
    return [found.get(k) for k in keys]


def grouped(rows: Sequence[Row], keys: Sequence[Any], column: str) -> list[list[Row]]:
    """The rows of each key, in key order (rows keep their SQL order within a key)."""
    groups: dict[Any, list[Row]] = defaultdict(list)
    for r in rows:
        groups[r[column]].append(r)
    return [groups.get(k, []) for k in keys]


def observed_batch(key: Hashable, batch: BatchFunction) -> BatchFunction:
    """`batch` recording its size (and a span) while metrics or tracing are on; else `batch` itself."""
    if metrics.instruments() is None and not tracing.tracing_on():
        return batch
    name = key if isinstance(key, str) else str(key[0]) if isinstance(key, tuple) and key else "loader"

    async def observed(keys: list[Any]) -> list[Any]:
        metrics.loader_batch(name, len(keys))
        with tracing.span(f"dataloader {name}", **{"atlas4d.batch_size": len(keys)}):
            return await batch(keys)

    return observed


class LoaderCache:
    """Per-request loaders: `loader(key, batch)` returns the DataLoader for `key`, made on first use."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._loaders: dict[Hashable, DataLoader[Any, Any]] = {}

    def loader(self, key: Hashable, batch: BatchFunction) -> DataLoader[Any, Any]:
        found = self._loaders.get(key)
        if found is None:
            found = DataLoader(observed_batch(key, batch), max_batch_size=MAX_BATCH)
            self._loaders[key] = found
        return found
