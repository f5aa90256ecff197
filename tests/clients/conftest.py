"""One live demo server for every client test module in this folder (started once per test session)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from clients_server import LiveServer, live_demo_server

from atlas4d.settings import Settings


@pytest.fixture(scope="session")
def live(settings: Settings) -> Iterator[LiveServer]:
    with live_demo_server(settings, f"atlas4d_clients_{os.getpid()}") as server:
        yield server
