"""Settings of the telecom module, read from `ATLAS4D_TELECOM_*` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TelecomSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATLAS4D_TELECOM_", env_file=".env", extra="ignore")

    high_latency_ms: float = Field(default=40.0, description="A sample this slow or slower is high_latency.")
    packet_loss_pct: float = Field(
        default=1.0, description="A sample losing this share or more is packet_loss."
    )
    congestion_utilization_pct: float = Field(
        default=95.0, description="A sample this busy or busier is congestion."
    )
    power_warning_dbm: float = Field(
        default=-27.0, description="Received optical power at or below this is a power_warning."
    )
    min_metric_interval_s: int = Field(default=60, description="Smallest bucket of metric aggregation.")
    max_metric_buckets: int = Field(
        default=10_000, description="Most buckets per node one metrics query may ask for."
    )


@lru_cache(maxsize=1)
def current_settings() -> TelecomSettings:
    """Read once, on first use (never at import)."""
    return TelecomSettings()
