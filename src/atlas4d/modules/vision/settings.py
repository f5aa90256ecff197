"""Settings of the vision module, read from `ATLAS4D_VISION_*` environment variables."""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATLAS4D_VISION_", extra="ignore")

    link_radius_m: float = Field(
        default=25.0, description="Largest distance between a detection and a track's position to link them."
    )
    link_classes: list[str] = Field(
        default=["car", "bus", "truck", "van", "motorcycle", "bicycle"],
        description="Detection classes linked to core tracks (others, e.g. person, are never linked).",
    )
    default_page_size: int = Field(default=100, description="`first` of detection lists when not given.")
    max_page_size: int = Field(default=10_000, description="Largest `first` of detection lists.")


@cache
def current_settings() -> VisionSettings:
    """Read once per process, on first use (never at import)."""
    return VisionSettings()
