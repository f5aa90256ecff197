"""OpenTelemetry traces: one server span per HTTP request (joining the caller's W3C `traceparent`), a span for
the GraphQL operation, the gateway's plan, each subgraph fetch and each SQL statement; `traceparent` sent on to
remote subgraphs so their spans join the same trace.

Off unless configured: `ATLAS4D_OTLP_ENDPOINT` (or OpenTelemetry's own `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns it on with an OTLP/HTTP exporter in a batch processor; tests install
a provider of their own (`install`). While off, `tracing_on()` is False and the hooks return before touching
OpenTelemetry at all, so an untraced request pays nothing for it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

_on = False
_provider: TracerProvider | None = None
SQL_TEXT_LIMIT = 2_000


def tracing_on() -> bool:
    return _on


def install(provider: TracerProvider) -> None:
    """Use `provider` for this process's spans (OpenTelemetry allows one global provider per process)."""
    global _on, _provider
    from opentelemetry import trace

    if _provider is not provider:
        trace.set_tracer_provider(provider)
        _provider = provider
    _on = True


def uninstall() -> None:
    """Stop making spans (the provider stays: OpenTelemetry cannot replace it; tests turn tracing off)."""
    global _on
    _on = False


def configure_tracing(otlp_endpoint: str | None, service_name: str = "atlas4d") -> bool:
    """Turn tracing on with an OTLP/HTTP exporter when an endpoint is configured; True if it is on."""
    if _on:
        return True
    env = os.environ
    configured = (
        otlp_endpoint
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    if not configured:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from atlas4d import __version__

    resource = Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME", service_name), "service.version": __version__}
    )
    provider = TracerProvider(resource=resource)
    endpoint = otlp_endpoint.rstrip("/") + "/v1/traces" if otlp_endpoint else None
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    install(provider)
    return True


def _tracer() -> Any:
    from opentelemetry import trace

    return trace.get_tracer("atlas4d")


@contextmanager
def server_span(method: str, path: str, headers: Mapping[str, str]) -> Iterator[Span]:
    """The request's root span, a child of the caller's `traceparent` when it sent one."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    parent = propagate.extract(headers)
    with _tracer().start_as_current_span(
        f"{method} {path}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": path},
    ) as span:
        yield span


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span | None]:
    """A child span of the current one (nothing when tracing is off)."""
    if not _on:
        yield None
        return
    with _tracer().start_as_current_span(name, attributes=attributes) as current:
        yield current


@contextmanager
def client_span(name: str, **attributes: Any) -> Iterator[dict[str, str]]:
    """A CLIENT span around a call to another service; yields the headers (`traceparent`, `tracestate`) that
    carry it there (empty when tracing is off)."""
    if not _on:
        yield {}
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    with _tracer().start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield carrier


def sql_span(query: str, elapsed_s: float, exception: BaseException | None) -> None:
    """A finished statement as a span under the current one (asyncpg reports it after the fact)."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    end = time.time_ns()
    statement = query.strip()
    current = _tracer().start_span(
        statement.split(None, 1)[0].upper() if statement else "SQL",
        kind=SpanKind.CLIENT,
        start_time=end - int(elapsed_s * 1e9),
        attributes={"db.system": "postgresql", "db.statement": statement[:SQL_TEXT_LIMIT]},
    )
    if exception is not None:
        current.set_status(Status(StatusCode.ERROR, type(exception).__name__))
    current.end(end_time=end)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, hex, for log lines."""
    if not _on:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
