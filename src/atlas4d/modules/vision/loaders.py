"""Per-request DataLoaders of the vision module: one SQL statement per batch, results in key order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from aiodataloader import DataLoader

from atlas4d.core.filters import TimeRange
from atlas4d.core.loaders.base import LoaderCache, Row, by_key, grouped
from atlas4d.core.sql import Params

CAMERA_COLUMNS = (
    "c.entity_id, c.name, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.heading_deg, c.fov_deg, c.range_m, "
    "ST_AsGeoJSON(c.coverage, 7)::json AS coverage"
)
DETECTION_COLUMNS = (
    "d.id, d.camera_id, d.t, d.class, d.confidence, d.box_x, d.box_y, d.box_w, d.box_h, "
    "ST_X(d.geom) AS lon, ST_Y(d.geom) AS lat, d.track_id, d.entity_id, d.link_distance_m"
)


@dataclass(frozen=True)
class DetectionArgs:
    """Validated arguments of a detection list; part of the loader's cache key."""

    time: TimeRange | None
    classes: tuple[str, ...] | None
    min_confidence: float | None
    first: int

    def sql(self, params: Params) -> list[str]:
        clauses = self.time.sql("d.t", params) if self.time is not None else []
        if self.classes is not None:
            clauses.append(f"d.class = ANY({params.add(list(self.classes), 'text[]')})")
        if self.min_confidence is not None:
            clauses.append(f"d.confidence >= {params.add(self.min_confidence)}")
        return clauses


class VisionLoaders(LoaderCache):
    """Built once per request by `Context.module_loaders("vision")`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self._pool = pool

    def camera(self) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            rows = await self._pool.fetch(
                f"SELECT {CAMERA_COLUMNS} FROM atlas4d_vision.cameras c WHERE c.entity_id = ANY($1::uuid[])",
                keys,
            )
            return by_key(rows, keys, "entity_id")

        return self.loader("camera", batch)

    def detections_by(self, column: str, args: DetectionArgs) -> DataLoader[uuid.UUID, list[Row]]:
        """Detections of each key, newest first, at most `args.first` each: `column` is camera_id
        (Camera.detections), entity_id (Entity.detections) or track_id (Track.detections)."""
        sql_column = {"camera_id": "d.camera_id", "entity_id": "d.entity_id", "track_id": "d.track_id"}[
            column
        ]

        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            params = Params()
            keys_ph = params.add(keys, "uuid[]")
            clauses = [f"{sql_column} = k.key", *args.sql(params)]
            rows = await self._pool.fetch(
                f"SELECT k.key AS parent_key, x.* FROM unnest({keys_ph}) AS k(key) "
                f"CROSS JOIN LATERAL (SELECT {DETECTION_COLUMNS} FROM atlas4d_vision.detections d "
                f"WHERE {' AND '.join(clauses)} ORDER BY d.t DESC, d.id LIMIT {params.add(args.first)}) x",
                *params.values,
            )
            return grouped(rows, keys, "parent_key")

        return self.loader(("detections", column, args), batch)
