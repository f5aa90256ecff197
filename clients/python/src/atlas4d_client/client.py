"""`Client`: the synchronous client. Every request is described in `calls` (shared with `AsyncClient`);
this file only sends them, pages through connections and loops over ingest batches."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from functools import partial
from time import sleep
from typing import Any, TypeVar

import httpx

from atlas4d_client import calls
from atlas4d_client.calls import Call, FilterArg, Order
from atlas4d_client.config import RAGAnswer, base_url, user_agent
from atlas4d_client.errors import Atlas4DError
from atlas4d_client.ingest import (
    BulkSource,
    IngestError,
    ObservationLike,
    RetryPolicy,
    batches,
    bulk_body,
    bulk_pieces,
    is_retryable,
)
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
from atlas4d_client.subscriptions import (
    DEFAULT_RECONNECT,
    Subscription,
    observation_added,
    protocol,
    websocket_url,
)

T = TypeVar("T")
Rows = list[dict[str, Any]]
"""What the REST list calls return: the JSON rows as they come."""


class Client:
    """Atlas4D Gateway client.

    `Client()` reads `ATLAS4D_URL`, or `ATLAS4D_HOST` / `ATLAS4D_PORT` (default localhost:4000), like the
    original Atlas4D SDK's `Client(host=, port=, timeout=)`; `Client(url="https://atlas.example.com")` names
    the server directly. `headers` are sent with every request (e.g. `{"authorization": "Bearer ..."}`).
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        timeout: float = 30,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url(host, port, url)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        all_headers = {"user-agent": user_agent(), **(headers or {})}
        self._headers = all_headers
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers=all_headers, transport=transport
        )
        self.observations = Observations(self)
        self.entities = Entities(self)
        self.tracks = Tracks(self)
        self.anomalies = Anomalies(self)
        self.rag = RAG(self)

    def run(self, call: Call[T], content: Any = None) -> T:
        """Send one described request and return its parsed result."""
        return call.read(self._http.send(call.request(self._http, content)))

    def graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, operation_name: str | None = None
    ) -> dict[str, Any]:
        """Any operation; returns `data`, raises `GraphQLError` (with `.data`, `.errors`) on errors."""
        return self.run(calls.graphql(query, variables, operation_name))

    def subscribe(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        reconnect: RetryPolicy | None = DEFAULT_RECONNECT,
        on_resubscribe: Callable[[], None] | None = None,
    ) -> Subscription[dict[str, Any]]:
        """Any subscription over WebSocket (`graphql-transport-ws`); each event is its `data`.
        `with client.subscribe(...) as events:` returns once the server has started it. After a server
        restart or missed change notices it subscribes again by itself and calls `on_resubscribe` (refetch
        there); `reconnect=None` raises `SubscriptionClosed` instead."""
        protocol_ = protocol(query, variables, operation_name, dict)
        return Subscription(self._ws_url, self._headers, protocol_, self.timeout, reconnect, on_resubscribe)

    @property
    def _ws_url(self) -> str:
        return websocket_url(self.base_url)

    # the original Atlas4D SDK's top-level REST methods
    def health(self) -> dict[str, Any]:
        return self.run(calls.health())

    def stats(self) -> dict[str, Any]:
        return self.run(calls.stats())

    def ask(self, question: str, top_k: int = 3, lang: str = "en") -> RAGAnswer:
        """Documentation Q&A of the full Atlas4D platform (`POST /api/nlq/rag`); the gateway itself does not
        serve it and answers 404 (`HTTPError`)."""
        return self.rag.query(question, top_k=top_k, lang=lang)

    def ingest(
        self,
        observations: Iterable[ObservationLike],
        *,
        batch_size: int = 5000,
        auto_create_entities: bool = True,
        retry: RetryPolicy | None = None,
    ) -> IngestResult:
        """Store observations through the `ingestObservations` mutation in batches of `batch_size` (each all
        or nothing), retrying a batch only when it cannot have been stored. Raises `IngestError` with what the
        earlier batches stored."""
        total = IngestResult()
        for number, batch in enumerate(batches(observations, batch_size)):
            call = calls.ingest_observations(batch, auto_create_entities)
            try:
                total += self._with_retry(partial(self.run, call), retry)
            except (Atlas4DError, httpx.TransportError) as exc:
                raise IngestError(exc, number, total) from exc
        return total

    def bulk_ingest(
        self, source: BulkSource, *, auto_create_entities: bool = True, retry: RetryPolicy | None = None
    ) -> IngestResult:
        """Stream observations to `POST /ingest/observations` in one request and one transaction: an NDJSON
        or CSV file (by path), or an iterable of observations encoded as NDJSON while it is sent. Files and
        sequences are re-sent on a retryable failure; one-shot iterables are not retried."""
        content_type, resendable = bulk_body(source)
        call = calls.bulk_ingest(content_type, auto_create_entities)
        policy = (retry or self.retry) if resendable else RetryPolicy(attempts=1)
        return self._with_retry(lambda: self.run(call, bulk_pieces(source)), policy)

    def _with_retry(self, send: Callable[[], T], retry: RetryPolicy | None) -> T:
        policy = retry or self.retry
        for attempt in range(policy.attempts):
            try:
                return send()
            except (Atlas4DError, httpx.TransportError) as exc:
                if attempt + 1 >= policy.attempts or not is_retryable(exc):
                    raise
                sleep(policy.delay(attempt, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(self, page: Callable[[str | None], Call[Page[T]]], limit: int | None) -> Iterator[T]:
        """Items of consecutive pages, following `endCursor`, stopping after `limit` items."""
        after: str | None = None
        left = limit
        while True:
            result = self.run(page(after))
            for item in result.items:
                if left is not None:
                    if left <= 0:
                        return
                    left -= 1
                yield item
            if not result.has_next_page or (left is not None and left <= 0):
                return
            after = result.end_cursor

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(url={self.base_url!r})"


class Observations:
    def __init__(self, client: Client) -> None:
        self._c = client

    def list(
        self,
        lat: float | None = None,
        lon: float | None = None,
        radius_km: float = 10,
        hours: int = 24,
        source_type: str | None = None,
        limit: int = 100,
    ) -> Rows:
        """The original SDK's REST call (`GET /api/observations`): plain dicts, newest first."""
        return self._c.run(calls.rest_observations(lat, lon, radius_km, hours, source_type, limit))

    def geojson(self, limit: int = 100, hours: int | None = None) -> dict[str, Any]:
        """The original SDK's REST call (`GET /api/geojson/observations`): a FeatureCollection."""
        return self._c.run(calls.rest_geojson(limit, hours))

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /api/observations` (the Core Spec's single ingest): `{"lat", "lon", "source_type", ...}`."""
        return self._c.run(calls.rest_create_observation(body))

    def subscribe(
        self,
        filter: FilterArg = None,
        *,
        reconnect: RetryPolicy | None = DEFAULT_RECONNECT,
        on_resubscribe: Callable[[], None] | None = None,
    ) -> Subscription[Observation]:
        """Observations matching `filter` as they are written (`observationAdded`), from when the `with`
        block is entered: `with client.observations.subscribe(f) as live: for obs in live: ...`;
        `live.next(timeout=5)` waits at most 5 s (`TimeoutError`). Reconnects as `Client.subscribe` does."""
        c = self._c
        return Subscription(
            c._ws_url, c._headers, observation_added(filter), c.timeout, reconnect, on_resubscribe
        )

    def page(
        self,
        filter: FilterArg = None,
        *,
        first: int = 100,
        after: str | None = None,
        order: Order = "TIME_DESC",
        total: bool = False,
    ) -> Page[Observation]:
        return self._c.run(calls.observations_page(filter, first, after, order, total))

    def iter(
        self,
        filter: FilterArg = None,
        *,
        page_size: int = 1000,
        order: Order = "TIME_DESC",
        limit: int | None = None,
    ) -> Iterator[Observation]:
        """Every matching observation (at most `limit`), a page of `page_size` at a time."""
        return self._c._pages(lambda a: calls.observations_page(filter, page_size, a, order, False), limit)

    def get(self, id: str | int) -> Observation | None:
        return self._c.run(calls.observation(id))

    def feature_collection(self, filter: FilterArg = None, *, limit: int = 100) -> dict[str, Any]:
        """The newest `limit` matches as a GeoJSON FeatureCollection built by PostGIS (`observationsGeoJSON`)."""
        return self._c.run(calls.observations_geojson(filter, limit))

    def buckets(
        self, interval: timedelta | str, filter: FilterArg = None
    ) -> builtins.list[ObservationBucket]:
        return self._c.run(calls.observation_buckets(interval, filter))

    def grid(
        self, filter: FilterArg = None, *, cell_size: float | None = None, h3_resolution: int | None = None
    ) -> builtins.list[GridCell]:
        return self._c.run(calls.observation_grid(filter, cell_size, h3_resolution))


class Entities:
    def __init__(self, client: Client) -> None:
        self._c = client

    def page(
        self,
        filter: FilterArg = None,
        *,
        first: int = 100,
        after: str | None = None,
        total: bool = False,
        with_latest: bool = False,
    ) -> Page[Entity]:
        return self._c.run(calls.entities_page(filter, first, after, total, with_latest))

    def iter(
        self,
        filter: FilterArg = None,
        *,
        page_size: int = 1000,
        limit: int | None = None,
        with_latest: bool = False,
    ) -> Iterator[Entity]:
        return self._c._pages(lambda a: calls.entities_page(filter, page_size, a, False, with_latest), limit)

    def get(self, id: str, *, with_latest: bool = False) -> Entity | None:
        return self._c.run(calls.entity(id, with_latest))

    def create(self, entities: Iterable[Mapping[str, Any]], *, on_conflict: str = "ERROR") -> list[Entity]:
        """`createEntities`: items with `kind` and optional `id`, `name`, `sourceType`, `properties`."""
        return self._c.run(calls.create_entities(list(entities), on_conflict))


class Tracks:
    def __init__(self, client: Client) -> None:
        self._c = client

    def page(
        self,
        filter: FilterArg = None,
        *,
        first: int = 100,
        after: str | None = None,
        total: bool = False,
        with_geometry: bool = False,
        simplify: float | None = None,
    ) -> Page[Track]:
        return self._c.run(calls.tracks_page(filter, first, after, total, with_geometry, simplify))

    def iter(
        self,
        filter: FilterArg = None,
        *,
        page_size: int = 500,
        limit: int | None = None,
        with_geometry: bool = False,
        simplify: float | None = None,
    ) -> Iterator[Track]:
        return self._c._pages(
            lambda a: calls.tracks_page(filter, page_size, a, False, with_geometry, simplify), limit
        )

    def get(self, id: str, *, with_geometry: bool = True, simplify: float | None = None) -> Track | None:
        return self._c.run(calls.track(id, with_geometry, simplify))

    def position_at(self, track_id: str, time: datetime) -> Position | None:
        """Where the track's entity was at `time` (interpolated); None outside the track's span."""
        return self._c.run(calls.position_at(track_id, time))

    def observations(self, track_id: str, *, first: int | None = None) -> list[Observation]:
        return self._c.run(calls.track_observations(track_id, first))


class Anomalies:
    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self, hours: int = 24, limit: int = 100, severity_min: int | None = None) -> Rows:
        """The original SDK's REST call (`GET /api/anomalies`): plain dicts, newest first."""
        return self._c.run(calls.rest_anomalies(hours, limit, severity_min))

    def page(
        self, filter: FilterArg = None, *, first: int = 100, after: str | None = None, total: bool = False
    ) -> Page[Anomaly]:
        return self._c.run(calls.anomalies_page(filter, first, after, total))

    def iter(
        self, filter: FilterArg = None, *, page_size: int = 1000, limit: int | None = None
    ) -> Iterator[Anomaly]:
        return self._c._pages(lambda a: calls.anomalies_page(filter, page_size, a, False), limit)

    def record(self, anomalies: Iterable[Mapping[str, Any]]) -> builtins.list[Anomaly]:
        """`recordAnomalies`: items with `observationId`, `anomalyType`, `severity`, `score`, ..."""
        return self._c.run(calls.record_anomalies(anomalies))


class RAG:
    def __init__(self, client: Client) -> None:
        self._c = client

    def query(self, question: str, top_k: int = 3, lang: str = "en") -> RAGAnswer:
        body = self._c.run(calls.rag_query(question, top_k, lang))
        return RAGAnswer.from_json(body)
