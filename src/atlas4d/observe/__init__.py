"""Observability, a thin layer around the HTTP and database layers (never inside resolvers): `/ready`,
Prometheus metrics, OpenTelemetry traces and structured logs (docs/operations.md)."""
