"""`AsyncClient`: the asyncio twin of `Client`, method for method (same `calls`, awaited; iterators are async
iterators)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from functools import partial
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
    AsyncSubscription,
    OnResubscribe,
    observation_added,
    protocol,
    websocket_url,
)

T = TypeVar("T")
Rows = list[dict[str, Any]]
"""What the REST list calls return: the JSON rows as they come."""


class AsyncClient:
    """Atlas4D Gateway client for asyncio; see `Client` for the arguments. Use `async with AsyncClient() as c`
    (or `await c.close()`). `transport=httpx.ASGITransport(app)` talks to an app in the same process."""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        timeout: float = 30,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url(host, port, url)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        all_headers = {"user-agent": user_agent(), **(headers or {})}
        self._headers = all_headers
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, headers=all_headers, transport=transport
        )
        self.observations = AsyncObservations(self)
        self.entities = AsyncEntities(self)
        self.tracks = AsyncTracks(self)
        self.anomalies = AsyncAnomalies(self)
        self.rag = AsyncRAG(self)

    async def run(self, call: Call[T], content: Any = None) -> T:
        return call.read(await self._http.send(call.request(self._http, content)))

    async def graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, operation_name: str | None = None
    ) -> dict[str, Any]:
        return await self.run(calls.graphql(query, variables, operation_name))

    def subscribe(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        reconnect: RetryPolicy | None = DEFAULT_RECONNECT,
        on_resubscribe: OnResubscribe | None = None,
    ) -> AsyncSubscription[dict[str, Any]]:
        """Any subscription over WebSocket; `async with client.subscribe(...) as events: async for data in
        events: ...`. Reconnects as `Client.subscribe` does; `on_resubscribe` may be a coroutine function."""
        protocol_ = protocol(query, variables, operation_name, dict)
        url = websocket_url(self.base_url)
        return AsyncSubscription(url, self._headers, protocol_, self.timeout, reconnect, on_resubscribe)

    async def health(self) -> dict[str, Any]:
        return await self.run(calls.health())

    async def stats(self) -> dict[str, Any]:
        return await self.run(calls.stats())

    async def ask(self, question: str, top_k: int = 3, lang: str = "en") -> RAGAnswer:
        return await self.rag.query(question, top_k=top_k, lang=lang)

    async def ingest(
        self,
        observations: Iterable[ObservationLike],
        *,
        batch_size: int = 5000,
        auto_create_entities: bool = True,
        retry: RetryPolicy | None = None,
    ) -> IngestResult:
        total = IngestResult()
        for number, batch in enumerate(batches(observations, batch_size)):
            call = calls.ingest_observations(batch, auto_create_entities)
            try:
                total += await self._with_retry(partial(self.run, call), retry)
            except (Atlas4DError, httpx.TransportError) as exc:
                raise IngestError(exc, number, total) from exc
        return total

    async def bulk_ingest(
        self, source: BulkSource, *, auto_create_entities: bool = True, retry: RetryPolicy | None = None
    ) -> IngestResult:
        content_type, resendable = bulk_body(source)
        call = calls.bulk_ingest(content_type, auto_create_entities)
        policy = (retry or self.retry) if resendable else RetryPolicy(attempts=1)
        return await self._with_retry(lambda: self.run(call, _aiter(bulk_pieces(source))), policy)

    async def _with_retry(self, send: Callable[[], Awaitable[T]], retry: RetryPolicy | None) -> T:
        policy = retry or self.retry
        for attempt in range(policy.attempts):
            try:
                return await send()
            except (Atlas4DError, httpx.TransportError) as exc:
                if attempt + 1 >= policy.attempts or not is_retryable(exc):
                    raise
                await asyncio.sleep(policy.delay(attempt, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pages(
        self, page: Callable[[str | None], Call[Page[T]]], limit: int | None
    ) -> AsyncIterator[T]:
        after: str | None = None
        left = limit
        while True:
            result = await self.run(page(after))
            for item in result.items:
                if left is not None:
                    if left <= 0:
                        return
                    left -= 1
                yield item
            if not result.has_next_page or (left is not None and left <= 0):
                return
            after = result.end_cursor

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient(url={self.base_url!r})"


async def _aiter(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """httpx's AsyncClient streams only async iterables."""
    for piece in pieces:
        yield piece


class AsyncObservations:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def list(
        self,
        lat: float | None = None,
        lon: float | None = None,
        radius_km: float = 10,
        hours: int = 24,
        source_type: str | None = None,
        limit: int = 100,
    ) -> Rows:
        return await self._c.run(calls.rest_observations(lat, lon, radius_km, hours, source_type, limit))

    async def geojson(self, limit: int = 100, hours: int | None = None) -> dict[str, Any]:
        return await self._c.run(calls.rest_geojson(limit, hours))

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._c.run(calls.rest_create_observation(body))

    def subscribe(
        self,
        filter: FilterArg = None,
        *,
        reconnect: RetryPolicy | None = DEFAULT_RECONNECT,
        on_resubscribe: OnResubscribe | None = None,
    ) -> AsyncSubscription[Observation]:
        """Observations matching `filter` as they are written; `async with ... as live: async for obs in live`.
        Reconnects as `AsyncClient.subscribe` does."""
        c = self._c
        return AsyncSubscription(
            websocket_url(c.base_url),
            c._headers,
            observation_added(filter),
            c.timeout,
            reconnect,
            on_resubscribe,
        )

    async def page(
        self,
        filter: FilterArg = None,
        *,
        first: int = 100,
        after: str | None = None,
        order: Order = "TIME_DESC",
        total: bool = False,
    ) -> Page[Observation]:
        return await self._c.run(calls.observations_page(filter, first, after, order, total))

    def iter(
        self,
        filter: FilterArg = None,
        *,
        page_size: int = 1000,
        order: Order = "TIME_DESC",
        limit: int | None = None,
    ) -> AsyncIterator[Observation]:
        return self._c._pages(lambda a: calls.observations_page(filter, page_size, a, order, False), limit)

    async def get(self, id: str | int) -> Observation | None:
        return await self._c.run(calls.observation(id))

    async def feature_collection(self, filter: FilterArg = None, *, limit: int = 100) -> dict[str, Any]:
        return await self._c.run(calls.observations_geojson(filter, limit))

    async def buckets(
        self, interval: timedelta | str, filter: FilterArg = None
    ) -> builtins.list[ObservationBucket]:
        return await self._c.run(calls.observation_buckets(interval, filter))

    async def grid(
        self, filter: FilterArg = None, *, cell_size: float | None = None, h3_resolution: int | None = None
    ) -> builtins.list[GridCell]:
        return await self._c.run(calls.observation_grid(filter, cell_size, h3_resolution))


class AsyncEntities:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def page(
        self,
        filter: FilterArg = None,
        *,
        first: int = 100,
        after: str | None = None,
        total: bool = False,
        with_latest: bool = False,
    ) -> Page[Entity]:
        return await self._c.run(calls.entities_page(filter, first, after, total, with_latest))

    def iter(
        self,
        filter: FilterArg = None,
        *,
        page_size: int = 1000,
        limit: int | None = None,
        with_latest: bool = False,
    ) -> AsyncIterator[Entity]:
        return self._c._pages(lambda a: calls.entities_page(filter, page_size, a, False, with_latest), limit)

    async def get(self, id: str, *, with_latest: bool = False) -> Entity | None:
        return await self._c.run(calls.entity(id, with_latest))

    async def create(
        self, entities: Iterable[Mapping[str, Any]], *, on_conflict: str = "ERROR"
    ) -> list[Entity]:
        return await self._c.run(calls.create_entities(list(entities), on_conflict))


class AsyncTracks:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def page(
        self,
        filter: FilterArg = None,
        *,
        first: int = 100,
        after: str | None = None,
        total: bool = False,
        with_geometry: bool = False,
        simplify: float | None = None,
    ) -> Page[Track]:
        return await self._c.run(calls.tracks_page(filter, first, after, total, with_geometry, simplify))

    def iter(
        self,
        filter: FilterArg = None,
        *,
        page_size: int = 500,
        limit: int | None = None,
        with_geometry: bool = False,
        simplify: float | None = None,
    ) -> AsyncIterator[Track]:
        return self._c._pages(
            lambda a: calls.tracks_page(filter, page_size, a, False, with_geometry, simplify), limit
        )

    async def get(
        self, id: str, *, with_geometry: bool = True, simplify: float | None = None
    ) -> Track | None:
        return await self._c.run(calls.track(id, with_geometry, simplify))

    async def position_at(self, track_id: str, time: datetime) -> Position | None:
        return await self._c.run(calls.position_at(track_id, time))

    async def observations(self, track_id: str, *, first: int | None = None) -> list[Observation]:
        return await self._c.run(calls.track_observations(track_id, first))


class AsyncAnomalies:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def list(self, hours: int = 24, limit: int = 100, severity_min: int | None = None) -> Rows:
        return await self._c.run(calls.rest_anomalies(hours, limit, severity_min))

    async def page(
        self, filter: FilterArg = None, *, first: int = 100, after: str | None = None, total: bool = False
    ) -> Page[Anomaly]:
        return await self._c.run(calls.anomalies_page(filter, first, after, total))

    def iter(
        self, filter: FilterArg = None, *, page_size: int = 1000, limit: int | None = None
    ) -> AsyncIterator[Anomaly]:
        return self._c._pages(lambda a: calls.anomalies_page(filter, page_size, a, False), limit)

    async def record(self, anomalies: Iterable[Mapping[str, Any]]) -> builtins.list[Anomaly]:
        return await self._c.run(calls.record_anomalies(anomalies))


class AsyncRAG:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def query(self, question: str, top_k: int = 3, lang: str = "en") -> RAGAnswer:
        body = await self._c.run(calls.rag_query(question, top_k, lang))
        return RAGAnswer.from_json(body)
