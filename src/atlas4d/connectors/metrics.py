"""A connector's Prometheus metrics, on a registry of the caller's choosing.

`ConnectorMetrics(registry)` registers its counters and gauges on `registry` (a fresh one by default, so
building two workers in one process, as the tests do, never collides); a server that exposes /metrics can
pass its own registry. `atlas4d connect … --metrics-port` serves the registry on 127.0.0.1.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LABELS = ("connector", "source")


class ConnectorMetrics:
    def __init__(self, connector: str, source: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, labels = self.registry, (connector, source)
        self.messages = Counter(
            "atlas4d_connector_messages",
            "Messages handled, by outcome: accepted (committed) or dead_letter (refused, sent on with its error).",
            [*LABELS, "outcome"],
            registry=r,
        )
        self._accepted = self.messages.labels(*labels, "accepted")
        self._dead = self.messages.labels(*labels, "dead_letter")
        self.rows = Counter(
            "atlas4d_connector_rows",
            "Observation rows of accepted messages, by outcome: stored, or duplicate (its key was already "
            "stored: a redelivery, not written again).",
            [*LABELS, "outcome"],
            registry=r,
        )
        self._stored = self.rows.labels(*labels, "stored")
        self._duplicate = self.rows.labels(*labels, "duplicate")
        self.batches = Counter(
            "atlas4d_connector_batches", "Transactions committed.", LABELS, registry=r
        ).labels(*labels)
        self.errors = Counter(
            "atlas4d_connector_errors",
            "Failed attempts (database or broker unavailable); the batch is retried, nothing is acknowledged.",
            LABELS,
            registry=r,
        ).labels(*labels)
        self.pending = Gauge(
            "atlas4d_connector_pending_messages",
            "Messages the broker holds for this consumer beyond the current batch (NATS num_pending, Kafka "
            "high watermark minus position; -1 where the broker does not say: MQTT).",
            LABELS,
            registry=r,
        ).labels(*labels)
        self.pending.set(-1)
        self.lag = Histogram(
            "atlas4d_connector_commit_lag_seconds",
            "From a message's arrival in the connector to the commit of its rows.",
            LABELS,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        ).labels(*labels)
        self.event_lag = Gauge(
            "atlas4d_connector_event_lag_seconds",
            "Wall clock at the last commit minus the newest observation time it stored.",
            LABELS,
            registry=r,
        ).labels(*labels)
        self.last_commit = Gauge(
            "atlas4d_connector_last_commit_timestamp_seconds",
            "Unix time of the last committed batch.",
            LABELS,
            registry=r,
        ).labels(*labels)

    def committed(
        self, *, stored: int, duplicates: int, messages: int, received: list[float], newest: float | None
    ) -> None:
        """After a commit: `messages` good messages, of which `duplicates` rows were already stored."""
        now_mono, now = time.monotonic(), time.time()
        self._accepted.inc(messages)
        self._stored.inc(stored)
        self._duplicate.inc(duplicates)
        self.batches.inc()
        self.last_commit.set(now)
        for at in received:
            self.lag.observe(now_mono - at)
        if newest is not None:
            self.event_lag.set(now - newest)

    def dead_lettered(self, count: int = 1) -> None:
        self._dead.inc(count)
