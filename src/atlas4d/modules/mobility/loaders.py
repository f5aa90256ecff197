"""Per-request DataLoaders of the mobility module: one SQL statement per batch, results in key order."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiodataloader import DataLoader

from atlas4d.core.filters import TimeRange
from atlas4d.core.sql import Params
from atlas4d.modules.mobility.queries import GEOFENCE_COLUMNS, STOP_COLUMNS, TRIP_COLUMNS, VEHICLE_COLUMNS
from atlas4d.modules.mobility.settings import MobilitySettings, current_settings

Row = asyncpg.Record


@dataclass(frozen=True)
class TripArgs:
    time: TimeRange | None
    first: int


def by_key(rows: Sequence[Row], keys: Sequence[Any], column: str) -> list[Row | None]:
    found = {r[column]: r for r in rows}
    return [found.get(k) for k in keys]


def grouped(rows: Sequence[Row], keys: Sequence[Any], column: str) -> list[list[Row]]:
    groups: dict[Any, list[Row]] = defaultdict(list)
    for r in rows:
        groups[r[column]].append(r)
    return [groups.get(k, []) for k in keys]


class MobilityLoaders:
    def __init__(self, pool: asyncpg.Pool, settings: MobilitySettings | None = None) -> None:
        self.pool = pool
        self.settings = settings or current_settings()
        self._loaders: dict[Hashable, DataLoader[Any, Any]] = {}

    def _get(
        self, key: Hashable, batch: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]
    ) -> DataLoader[Any, Any]:
        loader = self._loaders.get(key)
        if loader is None:
            loader = DataLoader(batch, max_batch_size=10_000)
            self._loaders[key] = loader
        return loader

    def _by_id(self, name: str, sql: str, column: str) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            return by_key(await self.pool.fetch(sql, keys), keys, column)

        return self._get(name, batch)

    def vehicle(self) -> DataLoader[uuid.UUID, Row | None]:
        return self._by_id(
            "vehicle",
            f"SELECT {VEHICLE_COLUMNS} FROM atlas4d_mobility.vehicles v WHERE v.entity_id = ANY($1::uuid[])",
            "entity_id",
        )

    def stop(self) -> DataLoader[uuid.UUID, Row | None]:
        return self._by_id(
            "stop", f"SELECT {STOP_COLUMNS} FROM atlas4d_mobility.stops s WHERE s.id = ANY($1::uuid[])", "id"
        )

    def geofence(self) -> DataLoader[uuid.UUID, Row | None]:
        return self._by_id(
            "geofence",
            f"SELECT {GEOFENCE_COLUMNS} FROM atlas4d_mobility.geofences g WHERE g.id = ANY($1::uuid[])",
            "id",
        )

    def trip(self) -> DataLoader[uuid.UUID, Row | None]:
        """The trip of a core track (by track id)."""
        return self._by_id(
            "trip",
            f"SELECT {TRIP_COLUMNS} FROM atlas4d_mobility.trips t WHERE t.track_id = ANY($1::uuid[])",
            "track_id",
        )

    def vehicle_trips(self, args: TripArgs) -> DataLoader[uuid.UUID, list[Row]]:
        """Each vehicle's trips overlapping `args.time`, newest first, at most `args.first`."""

        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            params = Params()
            keys_ph = params.add(keys, "uuid[]")
            clauses = ["t.vehicle_id = k.key"]
            if args.time is not None and args.time.start is not None:
                clauses.append(f"t.end_time >= {params.add(args.time.start)}")
            if args.time is not None and args.time.end is not None:
                clauses.append(f"t.start_time < {params.add(args.time.end)}")
            rows = await self.pool.fetch(
                f"SELECT k.key AS parent_key, x.* FROM unnest({keys_ph}) AS k(key) "
                f"CROSS JOIN LATERAL (SELECT {TRIP_COLUMNS} FROM atlas4d_mobility.trips t "
                f"WHERE {' AND '.join(clauses)} ORDER BY t.start_time DESC, t.track_id "
                f"LIMIT {params.add(args.first)}) x",
                *params.values,
            )
            return grouped(rows, keys, "parent_key")

        return self._get(("vehicle_trips", args), batch)


def create_loaders(pool: asyncpg.Pool) -> MobilityLoaders:
    return MobilityLoaders(pool)
