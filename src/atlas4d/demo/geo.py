"""Small-area geometry for the generators: spherical distance and bearing, walking along a polyline."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from atlas4d.core.geodesy import EARTH_RADIUS_M, bearing_deg, distance_m

__all__ = ["EARTH_RADIUS_M", "Polyline", "Position", "bearing_deg", "distance_m"]


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
