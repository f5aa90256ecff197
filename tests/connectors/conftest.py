"""Fixtures of the connector tests: private brokers, stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from brokers import Mosquitto, NatsServer, Tansu


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    broker = NatsServer(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def kafka_broker(tmp_path: Path) -> Iterator[Tansu]:
    broker = Tansu(tmp_path)
    broker.start()
    yield broker
    broker.stop()
