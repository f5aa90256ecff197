"""Matching by the query path's own SQL: for topics whose rows are few (anomalies, tracks), each subscription's
filter is the `WHERE` clauses of the matching query field, evaluated by PostgreSQL over the batch's keys —
one statement per batch for every subscription of a topic (`UNION ALL` of one arm per subscription), so the
live path and the query path agree by construction, whatever the filter (spatial predicates on track lines,
sub-selects on observations, sliding `last` windows: clauses are rebuilt per batch).

Subscriptions without a filter match every row without a statement. Each arm is a key lookup (`= ANY`) on
the table's primary key, so a batch of k rows costs about k index probes per subscription; observations,
which are many, are matched in process instead (matching.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from atlas4d.core.sql import Params

# (params, the subscription's filter) -> WHERE clauses on `table`'s alias
Clauses = Callable[[Params, Any], list[str]]


class SpecRegistry:
    """The live subscriptions of one topic: each owner (a feed) with its validated filter `spec`. Subclasses
    say how a batch of rows is matched against them (`match`)."""

    def __init__(self) -> None:
        self._specs: dict[int, tuple[object, Any]] = {}

    def __len__(self) -> int:
        return len(self._specs)

    def add(self, owner: object, spec: Any) -> None:
        self._specs[id(owner)] = (owner, spec)

    def discard(self, owner: object) -> None:
        self._specs.pop(id(owner), None)


class SqlIndex(SpecRegistry):
    def __init__(self, table: str, key: str, key_type: str, clauses: Clauses) -> None:
        """`table` with its alias (`atlas4d.tracks tr`), `key` its primary key column (`tr.id`) and type."""
        super().__init__()
        self.table = table
        self.key = key
        self.key_type = key_type
        self.clauses = clauses

    async def match(self, rows: Sequence[Any], now: datetime, conn: Any) -> dict[object, list[int]]:
        """For each subscription with matches, the indices (ascending) of the rows it matches."""
        del now  # clauses read the clock themselves (`last` windows), as the query path does
        keys = [row["id"] for row in rows]
        position = {k: i for i, k in enumerate(keys)}
        everything = list(range(len(rows)))
        out: dict[object, list[int]] = {}
        params = Params()
        wanted = params.add(keys, f"{self.key_type}[]")
        arms: list[str] = []
        owners: list[object] = []
        for owner, spec in self._specs.values():
            clauses = self.clauses(params, spec) if spec is not None else []
            if not clauses:
                out[owner] = everything
                continue
            where = " AND ".join(f"({c})" for c in clauses)
            arms.append(
                f"SELECT {len(owners)} AS s, {self.key} AS k FROM {self.table} "
                f"WHERE {self.key} = ANY({wanted}) AND {where}"
            )
            owners.append(owner)
        if arms:
            for record in await conn.fetch(" UNION ALL ".join(arms), *params.values):
                out.setdefault(owners[record["s"]], []).append(position[record["k"]])
        return {owner: sorted(indices) for owner, indices in out.items() if indices}
