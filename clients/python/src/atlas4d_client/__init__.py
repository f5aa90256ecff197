"""Python client for Atlas4D Gateway: typed GraphQL results, pagination iterators, filters as Python objects
(shapely geometries accepted), results as GeoJSON, shapely and GeoPandas, an ingest helper, and the original
Atlas4D SDK's REST methods (`health`, `stats`, `observations.list`, `observations.geojson`,
`anomalies.list`, `ask`).

    from atlas4d_client import Client, ObservationFilter, BBox, Last
    with Client() as client:                      # ATLAS4D_URL, or localhost:4000
        for obs in client.observations.iter(ObservationFilter(bbox=BBox(27.4, 42.45, 27.52, 42.53),
                                                              time=Last("PT1H"))):
            print(obs.time, obs.lon, obs.lat)
"""

from atlas4d_client.async_client import AsyncClient
from atlas4d_client.client import Client
from atlas4d_client.config import RAGAnswer
from atlas4d_client.errors import Atlas4DError, ErrorDetail, GraphQLError, HTTPError, ProtocolError
from atlas4d_client.filters import (
    AnomalyFilter,
    BBox,
    EntityFilter,
    Last,
    Near,
    ObservationFilter,
    Range,
    TimeRange,
    TrackFilter,
)
from atlas4d_client.geo import feature_collection, to_geodataframe, to_shapely
from atlas4d_client.ingest import IngestError, ObservationInput, RetryPolicy
from atlas4d_client.models import (
    Anomaly,
    Entity,
    GridCell,
    IngestResult,
    Observation,
    ObservationBucket,
    Page,
    Position,
    Track,
)
from atlas4d_client.subscriptions import AsyncSubscription, Subscription, SubscriptionClosed

__version__ = "0.1.0"

__all__ = [
    "Anomaly",
    "AnomalyFilter",
    "AsyncClient",
    "AsyncSubscription",
    "Atlas4DError",
    "BBox",
    "Client",
    "Entity",
    "EntityFilter",
    "ErrorDetail",
    "GraphQLError",
    "GridCell",
    "HTTPError",
    "IngestError",
    "IngestResult",
    "Last",
    "Near",
    "Observation",
    "ObservationBucket",
    "ObservationFilter",
    "ObservationInput",
    "Page",
    "Position",
    "ProtocolError",
    "RAGAnswer",
    "Range",
    "RetryPolicy",
    "Subscription",
    "SubscriptionClosed",
    "TimeRange",
    "Track",
    "TrackFilter",
    "__version__",
    "feature_collection",
    "to_geodataframe",
    "to_shapely",
]
