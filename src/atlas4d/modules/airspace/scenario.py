"""The airspace demo scenario around Burgas Airport (BOJ), generated deterministically.

`build_scenario(seed, end)` is pure. Eight aircraft fly over the 24 hours before `end`: six airliners, each
arriving on runway 04 (a straight-in final from the south-west) and departing again towards an exit
bearing, a Cessna on sightseeing loops at 300-400 m over Lake Atanasovsko and the port, and a medical
helicopter between the city hospital and the airport. Zones: the airport CTR, the lake reserve, an
offshore military area and a temporary flight restriction over the port for four hours.
"""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from atlas4d.core.geodesy import bearing_deg, destination, distance_m

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "atlas4d:airspace")
SCENARIO = "burgas-airspace"
BOJ = (27.515, 42.570)  # lon, lat of Burgas Airport
RUNWAY_04_FINAL_BEARING = 220.0  # from the airport towards the final approach fix
SAMPLE_S = 15
WINDOW = timedelta(hours=24)


def stable_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


def circle_wkt(lon: float, lat: float, radius_m: float, vertices: int = 48) -> str:
    ring = [destination(lon, lat, 360.0 * i / vertices, radius_m) for i in range(vertices)]
    ring.append(ring[0])
    return "MULTIPOLYGON(((" + ", ".join(f"{x:.7f} {y:.7f}" for x, y in ring) + ")))"


def box_wkt(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> str:
    return (
        f"MULTIPOLYGON((({min_lon} {min_lat}, {max_lon} {min_lat}, {max_lon} {max_lat}, "
        f"{min_lon} {max_lat}, {min_lon} {min_lat})))"
    )


@dataclass(frozen=True)
class Zone:
    id: uuid.UUID
    name: str
    kind: str
    wkt: str
    floor_m: float
    ceiling_m: float
    active_from: datetime | None
    active_to: datetime | None


@dataclass(frozen=True)
class Aircraft:
    entity_id: uuid.UUID
    icao24: str
    callsign: str
    type_code: str
    registration: str


@dataclass(frozen=True)
class Fix:
    t: datetime
    lon: float
    lat: float
    altitude_m: float
    speed_ms: float
    heading_deg: float
    entity_id: uuid.UUID
    track_id: uuid.UUID
    callsign: str


@dataclass
class AirspaceScenario:
    start: datetime
    end: datetime
    aircraft: list[Aircraft]
    zones: list[Zone]
    fixes: list[Fix] = field(default_factory=list)

    @property
    def track_ids(self) -> list[uuid.UUID]:
        return sorted({f.track_id for f in self.fixes})


# icao24, callsign, type, registration, role
FLEET: tuple[tuple[str, str, str, str, str], ...] = (
    ("4551c4", "BUC4201", "A320", "LZ-BHJ", "airliner"),
    ("471f87", "WZZ4301", "A21N", "HA-LVC", "airliner"),
    ("4ca8e5", "RYR52TX", "B738", "EI-FTM", "airliner"),
    ("45207d", "LZB102", "A319", "LZ-FBC", "airliner"),
    ("3c6752", "TUI8JN", "B738", "D-ATUM", "airliner"),
    ("4bb186", "THY5VG", "A321", "TC-JSL", "airliner"),
    ("455ab1", "LZCES", "C172", "LZ-CES", "sightseeing"),
    ("455ac9", "LZHEM", "EC35", "LZ-HEM", "helicopter"),
)
EXIT_BEARINGS = (300.0, 120.0, 330.0, 250.0, 10.0, 150.0)  # departures; 120 and 150 cross the military area
HOSPITAL = (27.4585, 42.5035)


def zones(end: datetime) -> list[Zone]:
    return [
        Zone(stable_id("zone", "burgas-ctr"), "Burgas CTR", "airport_ctr", circle_wkt(*BOJ, 10_000), 0, 1500, None, None),
        Zone(stable_id("zone", "atanasovsko"), "Atanasovsko Lake reserve", "restricted",
             box_wkt(27.430, 42.545, 27.470, 42.590), 0, 450, None, None),
        Zone(stable_id("zone", "d31"), "D-31 offshore military area", "military",
             box_wkt(27.620, 42.380, 27.850, 42.560), 900, 6000, None, None),
        Zone(stable_id("zone", "port-tfr"), "Port of Burgas TFR", "temporary", circle_wkt(27.478, 42.488, 2500),
             0, 1000, end - timedelta(hours=10), end - timedelta(hours=6)),
    ]  # fmt: skip


def fly(
    waypoints: list[tuple[float, float, float]], speed_ms: float, t0: datetime, end: datetime, **ids: Any
) -> list[Fix]:
    """Sample a flight along (lon, lat, altitude) waypoints every SAMPLE_S seconds at a constant speed;
    altitude varies linearly along each leg. Samples at or after `end` are dropped."""
    fixes: list[Fix] = []
    t, carried, heading = t0, 0.0, 0.0
    for (lon1, lat1, alt1), (lon2, lat2, alt2) in itertools.pairwise(waypoints):
        leg = distance_m(lon1, lat1, lon2, lat2)
        heading = bearing_deg(lon1, lat1, lon2, lat2)
        s = carried
        while s < leg:
            if t >= end:
                return fixes
            lon, lat = destination(lon1, lat1, heading, s)
            alt = alt1 + (alt2 - alt1) * s / leg
            fixes.append(
                Fix(t, round(lon, 7), round(lat, 7), round(alt, 1), speed_ms, round(heading, 1), **ids)
            )
            s += speed_ms * SAMPLE_S
            t += timedelta(seconds=SAMPLE_S)
        carried = s - leg
    lon, lat, alt = waypoints[-1]
    if t < end:
        fixes.append(Fix(t, lon, lat, alt, speed_ms, round(heading, 1), **ids))
    return fixes


def _airliner(
    rng: random.Random, i: int, a: Aircraft, seed: int, start: datetime, end: datetime
) -> list[Fix]:
    lon0, lat0 = BOJ
    faf = destination(lon0, lat0, RUNWAY_04_FINAL_BEARING, 15_000)
    entry = destination(lon0, lat0, rng.choice((190.0, 240.0, 270.0, 320.0, 350.0)), 70_000)
    arrival = [(*entry, 5000.0), (*faf, 800.0), (lon0, lat0, 20.0)]
    speed = round(rng.uniform(120, 150), 1)
    t_arr = start + timedelta(seconds=round(rng.uniform(1800, 19 * 3600)))
    fixes = fly(arrival, speed, t_arr, end, entity_id=a.entity_id, track_id=stable_id(seed, a.icao24, 0),
                callsign=a.callsign)  # fmt: skip
    climb_out = destination(lon0, lat0, 40.0, 8000)
    exit_point = destination(lon0, lat0, EXIT_BEARINGS[i % len(EXIT_BEARINGS)], 70_000)
    departure = [(lon0, lat0, 20.0), (*climb_out, 1200.0), (*exit_point, 7000.0)]
    t_dep = fixes[-1].t + timedelta(minutes=round(rng.uniform(45, 90))) if fixes else end
    fixes += fly(departure, speed, t_dep, end, entity_id=a.entity_id, track_id=stable_id(seed, a.icao24, 1),
                 callsign=a.callsign)  # fmt: skip
    return fixes


def _local(
    rng: random.Random, a: Aircraft, seed: int, start: datetime, end: datetime, role: str
) -> list[Fix]:
    lon0, lat0 = BOJ
    if role == "sightseeing":  # over the lake reserve and the port, back to the airport
        route = [(lon0, lat0, 20.0), (27.470, 42.560, 350.0), (27.445, 42.575, 380.0), (27.460, 42.505, 320.0),
                 (27.480, 42.485, 300.0), (27.500, 42.520, 400.0), (lon0, lat0, 20.0)]  # fmt: skip
        speed, flights = 55.0, (start + timedelta(hours=15, minutes=10), start + timedelta(hours=20))
    else:  # hospital <-> airport, once in the port TFR window and once outside it
        route = [(*HOSPITAL, 10.0), (27.476, 42.492, 500.0), (27.490, 42.540, 500.0), (lon0, lat0, 20.0)]
        speed, flights = 65.0, (start + timedelta(hours=16), start + timedelta(hours=7))
    out: list[Fix] = []
    for k, t0 in enumerate(flights):
        jitter = timedelta(seconds=round(rng.uniform(0, 900)))
        path = route if k == 0 else list(reversed(route))
        out += fly(path, speed, t0 + jitter, end, entity_id=a.entity_id, track_id=stable_id(seed, a.icao24, k),
                   callsign=a.callsign)  # fmt: skip
    return out


def build_scenario(seed: int, end: datetime) -> AirspaceScenario:
    start = end - WINDOW
    rng = random.Random(f"atlas4d-airspace-{seed}")
    fleet = [Aircraft(stable_id("aircraft", icao), icao, cs, tc, reg) for icao, cs, tc, reg, _ in FLEET]
    scenario = AirspaceScenario(start, end, fleet, zones(end))
    for i, (a, spec) in enumerate(zip(fleet, FLEET, strict=True)):
        role = spec[4]
        if role == "airliner":
            scenario.fixes += _airliner(rng, i, a, seed, start, end)
        else:
            scenario.fixes += _local(rng, a, seed, start, end, role)
    return scenario
