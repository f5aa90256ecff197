"""Per-request DataLoaders of the mobility module: one SQL statement per batch, results in key order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from aiodataloader import DataLoader

from atlas4d.core.filters import TimeRange
from atlas4d.core.loaders.base import LoaderCache, Row, by_key, grouped
from atlas4d.core.sql import Params
from atlas4d.modules.mobility.queries import GEOFENCE_COLUMNS, STOP_COLUMNS, TRIP_COLUMNS, VEHICLE_COLUMNS
from atlas4d.modules.mobility.settings import MobilitySettings, current_settings


@dataclass(frozen=True)
class TripArgs:
    time: TimeRange | None
    first: int


class MobilityLoaders(LoaderCache):
    def __init__(self, pool: asyncpg.Pool, settings: MobilitySettings | None = None) -> None:
        super().__init__(pool)
        self.settings = settings or current_settings()

    def _by_id(self, name: str, sql: str, column: str) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            return by_key(await self.pool.fetch(sql, keys), keys, column)

        return self.loader(name, batch)

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

        return self.loader(("vehicle_trips", args), batch)


def create_loaders(pool: asyncpg.Pool) -> MobilityLoaders:
    return MobilityLoaders(pool)
