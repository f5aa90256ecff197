"""Inputs of the vision subgraph, validated at the edge into typed errors."""

from __future__ import annotations

import math

import strawberry

from atlas4d.core import filters as f
from atlas4d.core.queries import page_size
from atlas4d.core.schema.inputs import BBoxInput, TimeFilter
from atlas4d.core.sql import Params
from atlas4d.errors import BadInput
from atlas4d.modules.vision.loaders import DetectionArgs
from atlas4d.modules.vision.settings import current_settings


def first_of(first: int | None) -> int:
    s = current_settings()
    return page_size(first, s.default_page_size, s.max_page_size)


def detection_args(
    time: TimeFilter | None, classes: list[str] | None, min_confidence: float | None, first: int | None
) -> DetectionArgs:
    if classes is not None:
        for i, c in enumerate(classes):
            if not c.strip():
                raise BadInput(f"classes[{i}] must not be blank", field="classes", index=i)
    if min_confidence is not None and not (math.isfinite(min_confidence) and 0 <= min_confidence <= 1):
        raise BadInput(f"`minConfidence` must be within 0..1, got {min_confidence}", field="minConfidence")
    return DetectionArgs(
        time.to_domain() if time is not None else None,
        tuple(classes) if classes is not None else None,
        min_confidence,
        first_of(first),
    )


def bbox_sql(bbox: BBoxInput, column: str, params: Params) -> str:
    boxes = [
        f"{column} && ST_MakeEnvelope({params.add(e[0])}, {params.add(e[1])}, {params.add(e[2])}, "
        f"{params.add(e[3])}, 4326)"
        for e in bbox.to_domain().envelopes()
    ]
    return "(" + " OR ".join(boxes) + ")"


@strawberry.input(description="Detection predicates; all given ones must hold.")
class DetectionFilter:
    time: TimeFilter | None = strawberry.field(default=None, description="Half-open, on the detection time.")
    classes: list[str] | None = strawberry.field(default=None, description="e.g. car, truck, person.")
    min_confidence: float | None = strawberry.field(default=None, description="0..1, inclusive.")
    camera_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Camera entity ids.")
    bbox: BBoxInput | None = strawberry.field(default=None, description="On the estimated ground position.")
    entity_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Linked entities.")
    track_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Linked tracks.")

    def sql(self, params: Params) -> list[str]:
        clauses = detection_args(self.time, self.classes, self.min_confidence, None).sql(params)
        for name, column, values in (
            ("cameraIds", "d.camera_id", self.camera_ids),
            ("entityIds", "d.entity_id", self.entity_ids),
            ("trackIds", "d.track_id", self.track_ids),
        ):
            ids = f.parse_uuids(values, name)
            if ids is not None:
                clauses.append(f"{column} = ANY({params.add(ids, 'uuid[]')})")
        if self.bbox is not None:
            clauses.append(bbox_sql(self.bbox, "d.geom", params))
        return clauses
