"""Airspace: aircraft, 3D restricted zones with active windows, and zone violations of flight tracks."""

from __future__ import annotations

from importlib import resources

from atlas4d.modules.airspace.live import live_topics
from atlas4d.modules.airspace.loaders import AirspaceLoaders
from atlas4d.modules.airspace.schema import build_schema
from atlas4d.modules.airspace.seed import seed
from atlas4d.modules.airspace.settings import AirspaceSettings
from atlas4d.modules.contract import Module

module = Module(
    name="airspace",
    display_name="Airspace",
    version="0.1.0",
    core_versions=">=0.1,<0.2",
    description="Aircraft, restricted 3D zones with active windows, and zone violations of flight tracks",
    category="airspace",
    subgraph=build_schema,
    loaders=AirspaceLoaders,
    migrations=resources.files(__package__) / "migrations",
    seed=seed,
    settings=AirspaceSettings,
    live_topics=live_topics,
    author="Atlas4D",
    license="Apache-2.0",
)

__all__ = ["module"]
