"""The Atlas4D Core Spec v0.3 REST endpoints, on the same filters and pool as GraphQL."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from atlas4d.rest import endpoints
from atlas4d.rest.docs import docs_routes
from atlas4d.rest.errors import rest_endpoint


def routes() -> list[BaseRoute]:
    """The Core Spec endpoints, `/openapi.json` and `/docs`."""
    return [
        *docs_routes(),
        Route("/health", rest_endpoint(endpoints.health), methods=["GET"]),
        Route("/api/stats", rest_endpoint(endpoints.stats), methods=["GET"]),
        Route("/api/observations", rest_endpoint(endpoints.list_observations), methods=["GET"]),
        Route("/api/observations", rest_endpoint(endpoints.create_observations), methods=["POST"]),
        Route("/api/anomalies", rest_endpoint(endpoints.list_anomalies), methods=["GET"]),
        Route("/api/geojson/observations", rest_endpoint(endpoints.observations_geojson), methods=["GET"]),
    ]
