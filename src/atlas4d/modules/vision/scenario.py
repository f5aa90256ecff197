"""The vision demo scenario: six cameras at Burgas junctions and the port gate, facing along the road,
a few vehicles of its own driving through each camera's view (so the scenario stands alone), and the
detections made from vehicle observations inside a camera's field of view plus some pedestrians.

Everything is deterministic: ids are uuid5, and each detection's noise comes from an RNG seeded by the
scenario seed and the detection's id, so a detection does not change when unrelated rows do.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from atlas4d.core.geodesy import bearing_deg, destination, distance_m

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "atlas4d:vision")
SCENARIO = "burgas-vision"
WINDOW = timedelta(hours=24)
SAMPLE_S = 3
PASSES = 4
PEOPLE_PER_CAMERA = 12
VEHICLE_CLASSES = {"car": "car", "taxi": "car", "bus": "bus", "truck": "truck", "delivery_van": "van"}
OWN_VEHICLE_CLASSES = ("car", "bus", "truck", "delivery_van", "taxi", "car")

# name, position (lon, lat), a point on the road it faces, horizontal field of view (deg), range (m)
CAMERAS: tuple[tuple[str, tuple[float, float], tuple[float, float], float, float], ...] = (
    ("CAM-01 Troykata", (27.4700, 42.4960), (27.4665, 42.5035), 70.0, 220.0),
    ("CAM-02 Airport road", (27.4810, 42.5380), (27.4950, 42.5520), 60.0, 250.0),
    ("CAM-03 Vaya lakeside", (27.4450, 42.5030), (27.4250, 42.5020), 60.0, 250.0),
    ("CAM-04 Meden Rudnik", (27.4570, 42.4825), (27.4520, 42.4770), 65.0, 200.0),
    ("CAM-05 Port gate", (27.4780, 42.4900), (27.4750, 42.4800), 75.0, 200.0),
    ("CAM-06 Sea Garden", (27.4850, 42.4930), (27.4880, 42.5020), 60.0, 220.0),
)


def stable_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


@dataclass(frozen=True)
class Camera:
    entity_id: uuid.UUID
    name: str
    lon: float
    lat: float
    heading_deg: float
    fov_deg: float
    range_m: float


@dataclass(frozen=True)
class Vehicle:
    entity_id: uuid.UUID
    name: str
    vehicle_class: str


@dataclass(frozen=True)
class Fix:
    t: datetime
    lon: float
    lat: float
    speed_ms: float
    heading_deg: float
    entity_id: uuid.UUID
    track_id: uuid.UUID


@dataclass(frozen=True)
class Sighting:
    """A vehicle observation inside a camera's field of view (read from core)."""

    camera_id: uuid.UUID
    t: datetime
    lon: float
    lat: float
    entity_id: uuid.UUID
    vehicle_class: str | None


@dataclass(frozen=True)
class Detection:
    id: uuid.UUID
    camera_id: uuid.UUID
    t: datetime
    detection_class: str
    confidence: float
    box: tuple[float, float, float, float]
    lon: float
    lat: float


@dataclass(frozen=True)
class VisionScenario:
    start: datetime
    end: datetime
    cameras: list[Camera]
    vehicles: list[Vehicle]
    fixes: list[Fix]


def cameras() -> list[Camera]:
    return [
        Camera(stable_id("camera", name), name, lon, lat, round(bearing_deg(lon, lat, *toward), 1), fov, rng)
        for name, (lon, lat), toward, fov, rng in CAMERAS
    ]


def build_scenario(seed: int, end: datetime) -> VisionScenario:
    """Cameras, and one vehicle per camera driving PASSES times straight through its view."""
    start = end - WINDOW
    rng = random.Random(f"atlas4d-vision-{seed}")
    cams = cameras()
    vehicles, fixes = [], []
    for i, cam in enumerate(cams):
        v = Vehicle(stable_id("vehicle", i), f"VIS {1000 + i}", OWN_VEHICLE_CLASSES[i])
        vehicles.append(v)
        for k in range(PASSES):
            t = start + timedelta(hours=k * 6 + rng.uniform(0.5, 5.0))
            t = t.replace(microsecond=0)
            speed = round(rng.uniform(8.0, 14.0), 2)
            lon, lat = destination(cam.lon, cam.lat, cam.heading_deg + 90, rng.uniform(-12.0, 12.0))
            lon, lat = destination(lon, lat, cam.heading_deg + 180, 40.0)  # enter the view from behind
            track = stable_id(seed, "vehicle", i, "pass", k)
            for s in range(0, 40 + int(cam.range_m) + 60, int(speed * SAMPLE_S)):
                x, y = destination(lon, lat, cam.heading_deg, s)
                fixes.append(Fix(t, round(x, 7), round(y, 7), speed, cam.heading_deg, v.entity_id, track))
                t += timedelta(seconds=SAMPLE_S)
    return VisionScenario(start, end, cams, vehicles, fixes)


def _box(
    cam: Camera, lon: float, lat: float, size_m: float, aspect: float
) -> tuple[float, float, float, float]:
    """Where a thing `size_m` wide at (lon, lat) appears in the camera's frame, normalised (x, y, w, h)."""
    dist = max(distance_m(cam.lon, cam.lat, lon, lat), 8.0)
    offset = (bearing_deg(cam.lon, cam.lat, lon, lat) - cam.heading_deg + 180.0) % 360.0 - 180.0
    w = round(min(0.4, size_m / dist), 4)
    h = round(min(0.6, w * aspect), 4)
    x = min(max(0.0, round(0.5 + offset / cam.fov_deg - w / 2, 4)), round(1 - w, 4))
    y = min(max(0.0, round(0.35 + 0.55 * (1 - dist / cam.range_m) - h / 2, 4)), round(1 - h, 4))
    return x, y, w, h


def _confidence(rng: random.Random, cam: Camera, lon: float, lat: float) -> float:
    dist = distance_m(cam.lon, cam.lat, lon, lat)
    return round(min(0.99, max(0.3, 0.96 - 0.35 * dist / cam.range_m + rng.gauss(0, 0.03))), 3)


def vehicle_detections(seed: int, cams: list[Camera], sightings: list[Sighting]) -> list[Detection]:
    """One detection per sighting; the ground position is the observed one plus ~1.5 m of noise."""
    by_id = {c.entity_id: c for c in cams}
    out = []
    for s in sightings:
        cam = by_id[s.camera_id]
        ident = stable_id("detection", s.camera_id, s.entity_id, s.t.isoformat())
        rng = random.Random(f"{seed}/{ident}")
        lon, lat = destination(s.lon, s.lat, rng.uniform(0, 360), min(4.0, abs(rng.gauss(0, 1.5))))
        cls = VEHICLE_CLASSES.get(s.vehicle_class or "", "car")
        out.append(
            Detection(ident, cam.entity_id, s.t, cls, _confidence(rng, cam, lon, lat),
                      _box(cam, lon, lat, 2.0 if cls == "car" else 2.6, 0.8), round(lon, 7), round(lat, 7))
        )  # fmt: skip
    return out


def person_detections(seed: int, cams: list[Camera], start: datetime) -> list[Detection]:
    out = []
    for cam in cams:
        for k in range(PEOPLE_PER_CAMERA):
            ident = stable_id("detection", cam.entity_id, "person", k)
            rng = random.Random(f"{seed}/{ident}")
            t = start + timedelta(seconds=round(rng.uniform(0, WINDOW.total_seconds() - 1)))
            offset = rng.uniform(-0.45, 0.45) * cam.fov_deg
            lon, lat = destination(
                cam.lon, cam.lat, cam.heading_deg + offset, rng.uniform(10, 0.8 * cam.range_m)
            )
            out.append(
                Detection(ident, cam.entity_id, t, "person", _confidence(rng, cam, lon, lat),
                          _box(cam, lon, lat, 0.6, 2.8), round(lon, 7), round(lat, 7))
            )  # fmt: skip
    return out
