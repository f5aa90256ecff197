"""Small-area geometry for the generators: spherical distance and bearing, walking along a polyline."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Initial bearing from point 1 to point 2, clockwise from north, in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


@dataclass(frozen=True)
class Position:
    lon: float
    lat: float
    heading_deg: float


@dataclass(frozen=True)
class Polyline:
    """A named path of (lon, lat) vertices; `at(s)` is the point `s` metres along it."""

    name: str
    points: tuple[tuple[float, float], ...]
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise ValueError(f"polyline {self.name} needs at least two points")
        total = [0.0]
        for (x1, y1), (x2, y2) in zip(self.points, self.points[1:], strict=False):
            total.append(total[-1] + distance_m(x1, y1, x2, y2))
        object.__setattr__(self, "_cumulative", tuple(total))

    @property
    def length_m(self) -> float:
        return self._cumulative[-1]

    def reversed(self) -> Polyline:
        return Polyline(self.name, tuple(reversed(self.points)))

    def at(self, s: float) -> Position:
        s = min(max(s, 0.0), self.length_m)
        i = min(max(bisect.bisect_right(self._cumulative, s) - 1, 0), len(self.points) - 2)
        (x1, y1), (x2, y2) = self.points[i], self.points[i + 1]
        span = self._cumulative[i + 1] - self._cumulative[i]
        f = (s - self._cumulative[i]) / span if span > 0 else 0.0
        # linear in lon/lat: on segments of a few hundred metres the error is far below GPS noise
        return Position(x1 + (x2 - x1) * f, y1 + (y2 - y1) * f, bearing_deg(x1, y1, x2, y2))
