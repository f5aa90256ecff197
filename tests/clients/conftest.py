"""One live demo server for every client test module in this folder (started once per test session)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from clients_server import LiveServer, live_demo_server

from atlas4d.settings import Settings
from atlas4d_client import Client, TimeRange


@pytest.fixture(scope="session")
def live(settings: Settings) -> Iterator[LiveServer]:
    with live_demo_server(settings, f"atlas4d_clients_{os.getpid()}") as server:
        yield server


@pytest.fixture(scope="session")
def recent(live: LiveServer) -> Callable[[timedelta], TimeRange]:
    """A fixed window ending just after the demo's newest observation: `Last(...)` moves with the clock, so two
    reads of it a second apart may see different rows; comparisons between reads need fixed ends."""
    with Client(url=live.url) as client:
        newest = client.observations.page(first=1).items[0].time
    end = newest + timedelta(microseconds=1)
    return lambda span: TimeRange(end - span, end)
