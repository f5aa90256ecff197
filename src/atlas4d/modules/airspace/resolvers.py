"""Root fields of the airspace subgraph: each is one SQL statement; bad input raises typed errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime

import strawberry

from atlas4d.core import filters as f
from atlas4d.core.context import Info
from atlas4d.core.queries import page_size
from atlas4d.core.schema.inputs import BBoxInput, TimeFilter
from atlas4d.core.sql import Params
from atlas4d.errors import BadInput, BadTimeRange
from atlas4d.modules.airspace.live import TOPIC, zone_event_spec
from atlas4d.modules.airspace.loaders import AIRCRAFT_COLUMNS, ZONE_COLUMNS, violations_sql
from atlas4d.modules.airspace.settings import current_settings
from atlas4d.modules.airspace.types import Aircraft, RestrictedZone, ZoneEvent, ZoneEventKind, ZoneViolation
from atlas4d.streaming.derived import Feed

ICAO24 = re.compile(r"^[0-9a-f]{6}$")


def _first(first: int | None) -> int:
    s = current_settings()
    return page_size(first, s.default_page_size, s.max_page_size)


def _strings(values: list[str] | None, name: str) -> list[str] | None:
    if values is None:
        return None
    for i, v in enumerate(values):
        if not v.strip():
            raise BadInput(f"{name}[{i}] must not be blank", field=name, index=i)
    return values


@strawberry.input(description="Aircraft predicates; all given ones must hold.")
class AircraftFilter:
    entity_ids: list[strawberry.ID] | None = None
    icao24s: list[str] | None = strawberry.field(default=None, description="6 hex digits, any case.")
    callsigns: list[str] | None = strawberry.field(default=None, description="Exact, any case.")
    type_codes: list[str] | None = strawberry.field(default=None, description="Exact, any case.")

    def sql(self, params: Params) -> list[str]:
        clauses = []
        ids = f.parse_uuids(self.entity_ids, "entityIds")
        if ids is not None:
            clauses.append(f"a.entity_id = ANY({params.add(ids, 'uuid[]')})")
        if self.icao24s is not None:
            codes = [c.strip().lower() for c in self.icao24s]
            for i, c in enumerate(codes):
                if not ICAO24.match(c):
                    raise BadInput(f"icao24s[{i}] is not 6 hex digits: {c[:20]!r}", field="icao24s", index=i)
            clauses.append(f"a.icao24 = ANY({params.add(codes, 'text[]')})")
        callsigns = _strings(self.callsigns, "callsigns")
        if callsigns is not None:
            clauses.append(f"upper(a.callsign) = ANY({params.add([c.upper() for c in callsigns], 'text[]')})")
        types = _strings(self.type_codes, "typeCodes")
        if types is not None:
            clauses.append(f"upper(a.type_code) = ANY({params.add([t.upper() for t in types], 'text[]')})")
        return clauses


async def aircraft(
    info: Info, filter: AircraftFilter | None = None, first: int | None = None
) -> list[Aircraft]:
    params = Params()
    clauses = filter.sql(params) if filter else []
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = await info.context.pool.fetch(
        f"SELECT {AIRCRAFT_COLUMNS} FROM atlas4d_airspace.aircraft a {where}"
        f"ORDER BY a.icao24 LIMIT {params.add(_first(first))}",
        *params.values,
    )
    return [Aircraft.from_row(r) for r in rows]


async def restricted_zones(
    info: Info,
    bbox: BBoxInput | None = None,
    active_at: datetime | None = None,
    kinds: list[str] | None = None,
    first: int | None = None,
) -> list[RestrictedZone]:
    params = Params()
    clauses = []
    if bbox is not None:
        boxes = [
            f"z.geom && ST_MakeEnvelope({params.add(e[0])}, {params.add(e[1])}, {params.add(e[2])}, "
            f"{params.add(e[3])}, 4326)"
            for e in bbox.to_domain().envelopes()
        ]
        clauses.append("(" + " OR ".join(boxes) + ")")
    if active_at is not None:
        if active_at.tzinfo is None:
            raise BadTimeRange("`activeAt` must carry a time zone", field="activeAt")
        at = params.add(active_at)
        clauses.append(
            f"(z.active_from IS NULL OR z.active_from <= {at}) AND (z.active_to IS NULL OR {at} < z.active_to)"
        )
    if _strings(kinds, "kinds") is not None:
        clauses.append(f"z.kind = ANY({params.add(kinds, 'text[]')})")
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = await info.context.pool.fetch(
        f"SELECT {ZONE_COLUMNS} FROM atlas4d_airspace.restricted_zones z {where}"
        f"ORDER BY z.name, z.id LIMIT {params.add(_first(first))}",
        *params.values,
    )
    return [RestrictedZone.from_row(r) for r in rows]


async def zone_violations(
    info: Info,
    time: TimeFilter | None = None,
    zone_ids: list[strawberry.ID] | None = None,
    zone_kinds: list[str] | None = None,
    first: int | None = None,
) -> list[ZoneViolation]:
    params = Params()
    clauses = time.to_domain().sql("o.t", params) if time is not None else []
    zones = []
    ids = f.parse_uuids(zone_ids, "zoneIds")
    if ids is not None:
        zones.append(f"z.id = ANY({params.add(ids, 'uuid[]')})")
    if _strings(zone_kinds, "zoneKinds") is not None:
        zones.append(f"z.kind = ANY({params.add(zone_kinds, 'text[]')})")
    limit = params.add(_first(first))
    rows = await info.context.pool.fetch(violations_sql(clauses, zones, limit), *params.values)
    return [ZoneViolation.from_row(r) for r in rows]


@strawberry.input(description="Zone event predicates; all given ones must hold.")
class ZoneEventFilter:
    kinds: list[ZoneEventKind] | None = None
    zone_ids: list[strawberry.ID] | None = None
    zone_kinds: list[str] | None = None
    entity_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Aircraft entities.")


async def zone_events(info: Info, filter: ZoneEventFilter | None = None) -> AsyncIterator[ZoneEvent]:
    """Validates the filter now (as zoneViolations does), then returns the live feed the hub serves."""
    flt = filter or ZoneEventFilter()
    spec = zone_event_spec(
        [k.name for k in flt.kinds] if flt.kinds is not None else None,
        flt.zone_ids,
        flt.zone_kinds,
        flt.entity_ids,
    )
    return Feed(TOPIC, spec)
