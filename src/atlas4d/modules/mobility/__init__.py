"""Mobility: vehicles, trips, stops and geofences over core entities and tracks; speeding and dwell
events computed in PostGIS. A reference module: it depends on core only and could ship on its own."""

from __future__ import annotations

from importlib import resources

from atlas4d.modules.contract import Module
from atlas4d.modules.mobility.live import live_topics
from atlas4d.modules.mobility.loaders import create_loaders
from atlas4d.modules.mobility.schema import build_mobility_schema
from atlas4d.modules.mobility.seed import seed_mobility
from atlas4d.modules.mobility.settings import MobilitySettings

module = Module(
    name="mobility",
    display_name="Mobility",
    version="0.1.0",
    core_versions=">=0.1,<0.2",
    description="Vehicles, trips, stops and speed-limited geofences; speeding and dwell-time events.",
    category="mobility",
    subgraph=build_mobility_schema,
    loaders=create_loaders,
    migrations=resources.files(__package__) / "migrations",
    seed=seed_mobility,
    settings=MobilitySettings,
    live_topics=live_topics,
    author="Atlas4D",
    license="Apache-2.0",
)

__all__ = ["module"]
