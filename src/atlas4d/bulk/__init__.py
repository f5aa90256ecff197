"""Bulk ingest: NDJSON or CSV over HTTP (`POST /ingest/observations`) and `atlas4d ingest FILE`.

Both use the GraphQL `ObservationInput` field names and the mutation's validation
(`atlas4d.core.ingest.validate_observations`), with errors that name the line and the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.routing import BaseRoute


def routes(max_body_bytes: int | None = None) -> list[BaseRoute]:
    """The bulk routes; the body limit defaults to `ATLAS4D_BULK_MAX_BODY_BYTES` (1 GiB), read per request."""
    # imported here, not at the top: `atlas4d ingest FILE` imports this package and needs none of the server
    from starlette.routing import Route

    from atlas4d.bulk.http import ingest_endpoint
    from atlas4d.rest.errors import rest_endpoint

    return [Route("/ingest/observations", rest_endpoint(ingest_endpoint(max_body_bytes)), methods=["POST"])]
