"""Telecom (the original Atlas4D reference profile): network nodes, topology, traffic metrics as a time
series with bucket aggregation, and network anomalies. Depends on core only; could ship on its own."""

from __future__ import annotations

from importlib import resources

from atlas4d.modules.contract import Module
from atlas4d.modules.telecom.live import live_topics
from atlas4d.modules.telecom.loaders import create_loaders
from atlas4d.modules.telecom.schema import build_telecom_schema
from atlas4d.modules.telecom.seed import seed_telecom
from atlas4d.modules.telecom.settings import TelecomSettings

module = Module(
    name="telecom",
    display_name="Telecom",
    version="0.1.0",
    core_versions=">=0.1,<0.2",
    description="Access network nodes (OLT, switch, CPE), topology, traffic metrics and network anomalies.",
    category="telecom",
    subgraph=build_telecom_schema,
    loaders=create_loaders,
    migrations=resources.files(__package__) / "migrations",
    seed=seed_telecom,
    settings=TelecomSettings,
    live_topics=live_topics,
    author="Atlas4D",
    license="Apache-2.0",
)

__all__ = ["module"]
