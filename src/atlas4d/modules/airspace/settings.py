"""Settings of the airspace module, read from `ATLAS4D_AIRSPACE_*` environment variables."""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AirspaceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATLAS4D_AIRSPACE_", extra="ignore")

    default_page_size: int = Field(default=100, description="`first` of root lists when not given.")
    max_page_size: int = Field(default=10_000, description="Largest `first` of root lists.")


@cache
def current_settings() -> AirspaceSettings:
    """Read once per process, on first use (never at import)."""
    return AirspaceSettings()
