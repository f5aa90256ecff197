"""Root fields of the mobility subgraph: inputs checked at the edge, then one statement each."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

import strawberry

from atlas4d.core.context import Info
from atlas4d.core.filters import parse_uuids
from atlas4d.core.queries import page_size
from atlas4d.core.schema.inputs import BBoxInput, TimeFilter
from atlas4d.errors import BadInput
from atlas4d.modules.mobility import queries
from atlas4d.modules.mobility.live import TOPIC, geofence_event_spec
from atlas4d.modules.mobility.schema.types import (
    DwellEvent,
    Geofence,
    GeofenceEvent,
    GeofenceEventKind,
    SpeedingEvent,
    Stop,
    Trip,
    Vehicle,
    VehicleKind,
    loaders,
)
from atlas4d.streaming.derived import Feed


def _first(info: Info, first: int | None) -> int:
    s = info.context.settings
    return page_size(first, s.default_page_size, s.max_page_size)


async def vehicles(
    info: Info,
    kinds: list[VehicleKind] | None = None,
    ids: list[strawberry.ID] | None = None,
    first: int | None = None,
) -> list[Vehicle]:
    """Vehicles by label."""
    rows = await queries.vehicles(
        info.context.pool,
        [k.value for k in kinds] if kinds is not None else None,
        parse_uuids(ids, "ids"),
        _first(info, first),
    )
    return [Vehicle.from_row(r) for r in rows]


async def trips(
    info: Info,
    vehicle_ids: list[strawberry.ID] | None = None,
    time: Annotated[TimeFilter | None, strawberry.argument(description="Trips overlapping it.")] = None,
    first: int | None = None,
) -> list[Trip]:
    """Trips, oldest first."""
    rows = await queries.trips(
        info.context.pool,
        parse_uuids(vehicle_ids, "vehicleIds"),
        time.to_domain() if time else None,
        _first(info, first),
    )
    return [Trip.from_row(r) for r in rows]


async def stops(info: Info, bbox: BBoxInput | None = None, first: int | None = None) -> list[Stop]:
    rows = await queries.stops(info.context.pool, bbox.to_domain() if bbox else None, _first(info, first))
    return [Stop.from_row(r) for r in rows]


async def geofences(
    info: Info, ids: list[strawberry.ID] | None = None, first: int | None = None
) -> list[Geofence]:
    rows = await queries.geofences(info.context.pool, parse_uuids(ids, "ids"), _first(info, first))
    return [Geofence.from_row(r) for r in rows]


async def speeding_events(
    info: Info,
    time: TimeFilter | None = None,
    geofence_ids: list[strawberry.ID] | None = None,
    entity_ids: list[strawberry.ID] | None = None,
    first: int | None = None,
) -> list[SpeedingEvent]:
    rows = await queries.speeding_events(
        info.context.pool,
        time.to_domain() if time else None,
        parse_uuids(geofence_ids, "geofenceIds"),
        parse_uuids(entity_ids, "entityIds"),
        _first(info, first),
    )
    return [SpeedingEvent.from_row(r) for r in rows]


def _positive(value: float, name: str, maximum: float) -> float:
    if not math.isfinite(value) or not 0 < value <= maximum:
        raise BadInput(f"`{name}` must be > 0 and at most {maximum:g}, got {value}", field=name)
    return value


async def dwell_events(
    info: Info,
    min_minutes: Annotated[
        float | None, strawberry.argument(description="Shortest stay reported (default 10).")
    ] = None,
    radius_meters: Annotated[
        float | None,
        strawberry.argument(description="How far from where it started a stay may wander (default 50)."),
    ] = None,
    time: TimeFilter | None = None,
    entity_ids: Annotated[
        list[strawberry.ID] | None,
        strawberry.argument(description="Entities to scan (default: every vehicle)."),
    ] = None,
    first: int | None = None,
) -> list[DwellEvent]:
    """Stays: an entity within `radiusMeters` of where it stopped for at least `minMinutes`."""
    settings = loaders(info).settings
    minutes = _positive(
        settings.default_dwell_minutes if min_minutes is None else min_minutes, "minMinutes", 7 * 24 * 60
    )
    radius = _positive(
        settings.default_dwell_radius_m if radius_meters is None else radius_meters,
        "radiusMeters",
        settings.max_dwell_radius_m,
    )
    args = queries.DwellArgs(
        timedelta(minutes=minutes),
        radius,
        time.to_domain() if time else None,
        parse_uuids(entity_ids, "entityIds"),
    )
    rows = await queries.dwell_events(info.context.pool, args, _first(info, first))
    return [DwellEvent.from_row(r) for r in rows]


@strawberry.input(description="Geofence event predicates; all given ones must hold.")
class GeofenceEventFilter:
    kinds: list[GeofenceEventKind] | None = None
    geofence_ids: list[strawberry.ID] | None = None
    entity_ids: list[strawberry.ID] | None = None


async def geofence_events(
    info: Info, filter: GeofenceEventFilter | None = None
) -> AsyncIterator[GeofenceEvent]:
    """Validates the filter now (as speedingEvents does), then returns the live feed the hub serves."""
    flt = filter or GeofenceEventFilter()
    kinds = [k.name for k in flt.kinds] if flt.kinds is not None else None
    return Feed(TOPIC, geofence_event_spec(kinds, flt.geofence_ids, flt.entity_ids))
