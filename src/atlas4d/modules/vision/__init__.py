"""Vision: cameras with field-of-view sectors, and detections linked to core tracks."""

from __future__ import annotations

from importlib import resources

from atlas4d.modules.contract import Module
from atlas4d.modules.vision.loaders import VisionLoaders
from atlas4d.modules.vision.schema import build_schema
from atlas4d.modules.vision.seed import seed
from atlas4d.modules.vision.settings import VisionSettings

module = Module(
    name="vision",
    display_name="Vision",
    version="0.1.0",
    core_versions=">=0.1,<0.2",
    description="Cameras with field-of-view sectors, and detections linked to core tracks",
    category="security",
    subgraph=build_schema,
    loaders=VisionLoaders,
    migrations=resources.files(__package__) / "migrations",
    seed=seed,
    settings=VisionSettings,
    author="Atlas4D",
    license="Apache-2.0",
)

__all__ = ["module"]
