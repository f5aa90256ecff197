"""Vehicles of the Burgas scenario: trips along the scenario's roads at plausible urban speeds.

Each trip follows one route (either direction, sometimes only part of it), samples a position every
`SAMPLE_S` seconds, and varies its speed as a bounded random walk; the heading is the bearing of the road
segment. A sample reports the speed it then travels at until the next sample, so consecutive positions are
never farther apart than `speed_ms * SAMPLE_S`.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from atlas4d.demo.burgas_map import ROUTES
from atlas4d.demo.rows import Entity, Observation, demo_id

VEHICLES = 24
SAMPLE_S = 10
# cruise speed range per class, m/s (urban Burgas: 50 km/h in town, up to ~80 km/h on the airport road)
VEHICLE_CLASSES: dict[str, tuple[float, float]] = {
    "car": (7.0, 19.0),
    "taxi": (7.0, 18.0),
    "bus": (4.0, 13.0),
    "truck": (5.0, 15.0),
    "delivery_van": (5.0, 16.0),
}
MAX_SPEED_MS = max(hi for _, hi in VEHICLE_CLASSES.values())
MIN_SPEED_MS = 1.5


@dataclass(frozen=True)
class Fleet:
    entities: list[Entity]
    observations: list[Observation]
    track_ids: list[uuid.UUID]


def _plate(rng: random.Random) -> str:
    letters = "ABEKMHOPCTYX"  # the Latin letters Bulgarian plates use
    return f"A {rng.randrange(1000, 10000)} {rng.choice(letters)}{rng.choice(letters)}"  # A = Burgas


def _altitude(lon: float) -> float:
    # the city rises gently from the bay westwards: a few metres at the coast, ~25 m inland
    return round(min(25.0, max(2.0, 2.0 + (27.49 - lon) * 220.0)), 1)


def vehicle_fleet(seed: int, start: datetime, end: datetime) -> Fleet:
    rng = random.Random(f"burgas-vehicles-{seed}")
    entities: list[Entity] = []
    observations: list[Observation] = []
    track_ids: list[uuid.UUID] = []
    window_s = (end - start).total_seconds()
    classes = sorted(VEHICLE_CLASSES)
    for v in range(VEHICLES):
        vehicle_class = classes[v % len(classes)]
        low, high = VEHICLE_CLASSES[vehicle_class]
        entity = Entity(
            demo_id("burgas", "vehicle", v),
            "vehicle",
            _plate(rng),
            "vehicle",
            {"vehicle_class": vehicle_class, "scenario": "burgas", "demo": True},
        )
        entities.append(entity)
        clock = rng.uniform(0, 5400)  # seconds after `start`
        trip = 0
        while clock < window_s - 300:  # a trip starting later would be a stub
            route = rng.choice(ROUTES)
            if rng.random() < 0.5:
                route = route.reversed()
            s = rng.uniform(0, 0.25) * route.length_m
            stop = rng.uniform(0.75, 1.0) * route.length_m
            speed = rng.uniform(low, high)
            track_id = demo_id("burgas", seed, "vehicle", v, "trip", trip)
            points = 0
            t = round(clock)
            while s <= stop and t < window_s:
                here = route.at(s)
                observations.append(
                    Observation(
                        t=start + timedelta(seconds=t),
                        lon=round(here.lon, 7),
                        lat=round(here.lat, 7),
                        source_type="vehicle",
                        entity_id=entity.id,
                        track_id=track_id,
                        altitude_m=_altitude(here.lon),
                        speed_ms=round(speed, 2),
                        heading_deg=round(here.heading_deg, 1),
                        metadata={
                            "demo": True,
                            "scenario": "burgas",
                            "route": route.name,
                            "vehicle_class": vehicle_class,
                        },
                    )
                )
                points += 1
                s += round(speed, 2) * SAMPLE_S
                t += SAMPLE_S
                speed = min(high, max(MIN_SPEED_MS, speed + rng.gauss(0, 0.8)))
            if points:
                track_ids.append(track_id)
                trip += 1
            clock = t + rng.uniform(600, 7200)  # parked 10 min to 2 h between trips
    return Fleet(entities, observations, track_ids)
