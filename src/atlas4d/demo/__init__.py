"""Demo and benchmark data: the Burgas scenario of the original Atlas4D, and seeded data at scale."""

from __future__ import annotations

from atlas4d.demo.burgas import DemoSummary, build_burgas, load_burgas
from atlas4d.demo.scale import SeedSummary, seed_scale

__all__ = ["DemoSummary", "SeedSummary", "build_burgas", "load_burgas", "seed_scale"]
