"""`atlas4d connect mqtt|nats|kafka`: a worker that stores a broker's observation messages (docs/connectors.md)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from atlas4d.settings import Settings

if TYPE_CHECKING:
    from atlas4d.connectors.worker import Source

# The broker clients (aiomqtt, nats-py, aiokafka, prometheus-client) are imported by the command that runs:
# every other `atlas4d` command starts without them (`atlas4d ingest FILE` is timed with its start-up).

app = typer.Typer(
    no_args_is_help=True, help="Store observations arriving over MQTT, NATS JetStream or Kafka."
)

Name = Annotated[
    str | None,
    typer.Option(
        help="Source name: part of every idempotency key and metric label (default: the broker kind)."
    ),
]
Tenant = Annotated[str | None, typer.Option(help="Tenant of the stored rows (with ATLAS4D_TENANCY).")]
BatchRows = Annotated[int | None, typer.Option(min=1, max=100_000, help="Most messages per transaction.")]
BatchMs = Annotated[int | None, typer.Option(min=1, help="Longest wait to fill a batch, in ms.")]
MetricsPort = Annotated[int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.")]


def _settings(batch_rows: int | None, batch_ms: int | None, metrics_port: int | None) -> Settings:
    given = {
        "connect_batch_rows": batch_rows,
        "connect_batch_ms": batch_ms,
        "connect_metrics_port": metrics_port,
    }
    return Settings().model_copy(update={k: v for k, v in given.items() if v is not None})


def run_worker(settings: Settings, source: Source, name: str, tenant: str | None) -> None:
    """Run until SIGTERM/SIGINT, then store and acknowledge the batch in hand and exit 0."""
    from atlas4d.connectors.metrics import ConnectorMetrics
    from atlas4d.connectors.worker import Worker
    from atlas4d.db.embedded import database_url

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dsn = database_url(settings)

    async def main() -> None:
        metrics = ConnectorMetrics(source.kind, name)
        worker = Worker(settings, dsn, source, name=name, tenant=tenant, metrics=metrics)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop.set)
        if settings.connect_metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(settings.connect_metrics_port, addr="127.0.0.1", registry=metrics.registry)
        await worker.run()

    asyncio.run(main())


@app.command()
def mqtt(
    topic: Annotated[list[str], typer.Option(help="Topic filter to subscribe (QoS 1); repeat for more.")],
    dead_letter: Annotated[str, typer.Option(help="Topic that receives bad messages with their error.")],
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id of the persistent session (default atlas4d-NAME).")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Broker URL (default ATLAS4D_CONNECT_MQTT_URL).")] = None,
    name: Name = None,
    tenant: Tenant = None,
    batch_rows: BatchRows = None,
    batch_ms: BatchMs = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Subscribe to MQTT topics and store each message's observations."""
    from atlas4d.connectors.mqtt_source import MqttSource

    settings = _settings(batch_rows, batch_ms, metrics_port)
    source_name = name or "mqtt"
    source = MqttSource(
        url or settings.connect_mqtt_url,
        topic,
        client_id=client_id or f"atlas4d-{source_name}",
        dead_letter_topic=dead_letter,
    )
    run_worker(settings, source, source_name, tenant)


@app.command()
def nats(
    subject: Annotated[str, typer.Option(help="Subject (wildcards allowed) captured by a JetStream stream.")],
    dead_letter: Annotated[str, typer.Option(help="Subject that receives bad messages with their error.")],
    durable: Annotated[str | None, typer.Option(help="Durable consumer name (default atlas4d-NAME).")] = None,
    stream: Annotated[str | None, typer.Option(help="Stream name (default: found by subject).")] = None,
    ack_wait: Annotated[
        float, typer.Option(help="Seconds before JetStream redelivers an unacked message.")
    ] = 30.0,
    url: Annotated[str | None, typer.Option(help="Server URL (default ATLAS4D_CONNECT_NATS_URL).")] = None,
    name: Name = None,
    tenant: Tenant = None,
    batch_rows: BatchRows = None,
    batch_ms: BatchMs = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Consume a NATS JetStream subject with a durable pull consumer and store each message's observations."""
    from atlas4d.connectors.nats_source import NatsSource

    settings = _settings(batch_rows, batch_ms, metrics_port)
    source_name = name or "nats"
    source = NatsSource(
        url or settings.connect_nats_url,
        subject,
        durable=durable or f"atlas4d-{source_name}",
        dead_letter_subject=dead_letter,
        stream=stream,
        ack_wait_s=ack_wait,
    )
    run_worker(settings, source, source_name, tenant)


@app.command()
def kafka(
    topic: Annotated[list[str], typer.Option(help="Topic to consume; repeat for more.")],
    dead_letter: Annotated[str, typer.Option(help="Topic that receives bad messages with their error.")],
    group: Annotated[str | None, typer.Option(help="Consumer group (default atlas4d-NAME).")] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Bootstrap servers (default ATLAS4D_CONNECT_KAFKA_BOOTSTRAP).")
    ] = None,
    name: Name = None,
    tenant: Tenant = None,
    batch_rows: BatchRows = None,
    batch_ms: BatchMs = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Consume Kafka topics in a consumer group and store each message's observations (untested against a
    broker: docs/connectors.md)."""
    from atlas4d.connectors.kafka_source import KafkaSource

    settings = _settings(batch_rows, batch_ms, metrics_port)
    source_name = name or "kafka"
    source = KafkaSource(
        bootstrap or settings.connect_kafka_bootstrap,
        topic,
        group=group or f"atlas4d-{source_name}",
        dead_letter_topic=dead_letter,
    )
    run_worker(settings, source, source_name, tenant)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="connect")
