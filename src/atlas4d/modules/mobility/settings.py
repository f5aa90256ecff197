"""Settings of the mobility module, read from `ATLAS4D_MOBILITY_*` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MobilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATLAS4D_MOBILITY_", env_file=".env", extra="ignore")

    stop_radius_m: float = Field(
        default=600.0, description="A trip starts or ends at the nearest stop within this distance."
    )
    default_dwell_minutes: float = Field(default=10.0, description="`dwellEvents(minMinutes)` default.")
    default_dwell_radius_m: float = Field(default=50.0, description="`dwellEvents(radiusMeters)` default.")
    max_dwell_radius_m: float = Field(default=10_000.0, description="Largest `radiusMeters` accepted.")


@lru_cache(maxsize=1)
def current_settings() -> MobilitySettings:
    """Read once, on first use (never at import)."""
    return MobilitySettings()
