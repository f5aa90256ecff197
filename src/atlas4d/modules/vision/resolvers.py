"""Root fields of the vision subgraph: each is one SQL statement; bad input raises typed errors."""

from __future__ import annotations

from atlas4d.core.context import Info
from atlas4d.core.schema.inputs import BBoxInput
from atlas4d.core.sql import Params
from atlas4d.modules.vision.inputs import DetectionFilter, bbox_sql, first_of
from atlas4d.modules.vision.loaders import CAMERA_COLUMNS, DETECTION_COLUMNS
from atlas4d.modules.vision.types import Camera, Detection


async def cameras(info: Info, bbox: BBoxInput | None = None, first: int | None = None) -> list[Camera]:
    params = Params()
    where = f"WHERE {bbox_sql(bbox, 'c.geom', params)} " if bbox is not None else ""
    rows = await info.context.pool.fetch(
        f"SELECT {CAMERA_COLUMNS} FROM atlas4d_vision.cameras c {where}"
        f"ORDER BY c.name, c.entity_id LIMIT {params.add(first_of(first))}",
        *params.values,
    )
    return [Camera.from_row(r) for r in rows]


async def detections(
    info: Info, filter: DetectionFilter | None = None, first: int | None = None
) -> list[Detection]:
    params = Params()
    clauses = filter.sql(params) if filter is not None else []
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = await info.context.pool.fetch(
        f"SELECT {DETECTION_COLUMNS} FROM atlas4d_vision.detections d {where}"
        f"ORDER BY d.t DESC, d.id LIMIT {params.add(first_of(first))}",
        *params.values,
    )
    return [Detection.from_row(r) for r in rows]
