"""Per-request DataLoaders of the telecom module: one SQL statement per batch, results in key order.

Loaders with arguments (a time window, an interval) are cached per distinct argument set, so
`networkNodes { metrics(interval: "PT1H") }` over every node is still one statement.
"""

from __future__ import annotations

import uuid

import asyncpg
from aiodataloader import DataLoader

from atlas4d.core.loaders.base import LoaderCache, Row, by_key, grouped
from atlas4d.core.sql import Params
from atlas4d.modules.telecom.queries import (
    ANOMALY_COLUMNS,
    LINK_COLUMNS,
    NODE_COLUMNS,
    SAMPLE_COLUMNS,
    AnomalyArgs,
    MetricArgs,
    anomaly_clauses,
    metric_buckets_sql,
)
from atlas4d.modules.telecom.settings import TelecomSettings, current_settings


class TelecomLoaders(LoaderCache):
    def __init__(self, pool: asyncpg.Pool, settings: TelecomSettings | None = None) -> None:
        super().__init__(pool)
        self.settings = settings or current_settings()

    def _one(self, name: str, sql: str, column: str) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            return by_key(await self.pool.fetch(sql, keys), keys, column)

        return self.loader(name, batch)

    def _many(self, name: str, sql: str, column: str) -> DataLoader[uuid.UUID, list[Row]]:
        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            return grouped(await self.pool.fetch(sql, keys), keys, column)

        return self.loader(name, batch)

    def node(self) -> DataLoader[uuid.UUID, Row | None]:
        return self._one(
            "node",
            f"SELECT {NODE_COLUMNS} FROM atlas4d_telecom.nodes n WHERE n.entity_id = ANY($1::uuid[])",
            "entity_id",
        )

    def uplink(self) -> DataLoader[uuid.UUID, Row | None]:
        """The node each node hangs from (the far end of its upstream link)."""
        return self._one(
            "uplink",
            f"SELECT l.to_node AS child, {NODE_COLUMNS} FROM atlas4d_telecom.links l "
            "JOIN atlas4d_telecom.nodes n ON n.entity_id = l.from_node WHERE l.to_node = ANY($1::uuid[])",
            "child",
        )

    def downstream(self) -> DataLoader[uuid.UUID, list[Row]]:
        return self._many(
            "downstream",
            f"SELECT l.from_node AS parent, {NODE_COLUMNS} FROM atlas4d_telecom.links l "
            "JOIN atlas4d_telecom.nodes n ON n.entity_id = l.to_node WHERE l.from_node = ANY($1::uuid[]) "
            "ORDER BY n.name, n.entity_id",
            "parent",
        )

    def links(self) -> DataLoader[uuid.UUID, list[Row]]:
        """Links at either end of each node, upstream first."""
        return self._many(
            "links",
            f"SELECT k.key, {LINK_COLUMNS} FROM unnest($1::uuid[]) AS k(key) "
            "JOIN atlas4d_telecom.links l ON l.from_node = k.key OR l.to_node = k.key "
            "ORDER BY (l.from_node = k.key), l.id",
            "key",
        )

    def latest_metric(self) -> DataLoader[uuid.UUID, Row | None]:
        return self._one(
            "latest_metric",
            f"SELECT k.key AS key, x.* FROM unnest($1::uuid[]) AS k(key) CROSS JOIN LATERAL "
            f"(SELECT {SAMPLE_COLUMNS} FROM atlas4d_telecom.metrics m WHERE m.node_id = k.key "
            "ORDER BY m.t DESC LIMIT 1) x",
            "key",
        )

    def metrics(self, args: MetricArgs) -> DataLoader[uuid.UUID, list[Row]]:
        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            params = Params()
            nodes_ph = params.add(keys, "uuid[]")
            rows = await self.pool.fetch(metric_buckets_sql(args, params, nodes_ph), *params.values)
            return grouped(rows, keys, "node_id")

        return self.loader(("metrics", args), batch)

    def anomalies(self, args: AnomalyArgs) -> DataLoader[uuid.UUID, list[Row]]:
        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            params = Params()
            clauses = [f"a.node_id = ANY({params.add(keys, 'uuid[]')})", *anomaly_clauses(args, params)]
            rows = await self.pool.fetch(
                f"SELECT {ANOMALY_COLUMNS} FROM atlas4d_telecom.anomalies a WHERE {' AND '.join(clauses)} "
                "ORDER BY a.started_at DESC, a.id",
                *params.values,
            )
            return grouped(rows, keys, "node_id")

        return self.loader(("anomalies", args), batch)


def create_loaders(pool: asyncpg.Pool) -> TelecomLoaders:
    return TelecomLoaders(pool)
