"""The SDK's ingest helper against the live server: batches, retries only when nothing can have been stored,
bulk NDJSON/CSV, and what was stored checked by reading it back (never trusting the write's own answer).

Faults are injected at the HTTP transport in front of the real server (a refused connection before sending,
a read timeout after the server answered); the server and its database are real.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clients_server import LiveServer
from shapely.geometry import Point

from atlas4d_client import (
    AsyncClient,
    Client,
    GraphQLError,
    HTTPError,
    IngestError,
    ObservationFilter,
    ObservationInput,
    RetryPolicy,
)
from atlas4d_client.errors import ErrorDetail
from atlas4d_client.ingest import is_retryable, ndjson_lines

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, backoff=0.01)


def walk(entity: str, track: str, n: int, kind: str = "sdk-test") -> Iterator[dict[str, Any]]:
    """n observations of one entity moving east along lat 42.5, one per second (a generator: read lazily)."""
    for i in range(n):
        yield {
            "time": START + timedelta(seconds=i),
            "lon": 27.0 + i * 1e-5,
            "lat": 42.5,
            "speed": 1.0,
            "sourceType": "sdk",
            "entityId": entity,
            "entityKind": kind,
            "trackId": track,
        }


def stored(client: Client, entity: str) -> int:
    count = client.observations.page(ObservationFilter(entity_ids=[entity]), first=1, total=True).total_count
    assert count is not None
    return count


class Flaky(httpx.BaseTransport):
    """Forwards to the real server; the first `refuse` requests fail to connect (nothing sent), and with
    `lose_answers`, the server's answers to the first ones are lost (sent, stored, then a read timeout)."""

    def __init__(self, refuse: int = 0, lose_answers: int = 0) -> None:
        self.inner = httpx.HTTPTransport()
        self.refuse = refuse
        self.lose_answers = lose_answers
        self.sent = 0
        self.attempts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            raise httpx.ConnectError("connection refused (injected)", request=request)
        response = self.inner.handle_request(request)
        response.read()
        self.sent += 1
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise httpx.ReadTimeout("answer lost (injected)", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def client(live: LiveServer) -> Iterator[Client]:
    with Client(url=live.url, retry=FAST) as c:
        yield c


def test_ingest_splits_into_batches(client: Client) -> None:
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    result = client.ingest(walk(entity, track, 12_001), batch_size=5000)
    assert (result.accepted, result.entities_created, result.batches) == (12_001, 1, 3)
    assert result.tracks_updated == 3  # the one track, refreshed by each batch
    assert stored(client, entity) == 12_001
    line = client.tracks.get(track)
    assert line is not None and line.point_count == 12_001
    assert line.end_time - line.start_time == timedelta(seconds=12_000)


def test_observation_input_takes_a_shapely_point(client: Client) -> None:
    entity = str(uuid.uuid4())
    item = ObservationInput(time=START, point=Point(27.5, 42.4, 120.0), entity_id=entity, source_type="sdk")
    assert client.ingest([item]).accepted == 1
    (obs,) = client.observations.page(ObservationFilter(entity_ids=[entity])).items
    assert (obs.lon, obs.lat, obs.altitude, obs.time) == (27.5, 42.4, 120.0, START)


def test_refused_connections_are_retried_and_stored_once(live: LiveServer) -> None:
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    flaky = Flaky(refuse=2)
    with Client(url=live.url, retry=FAST, transport=flaky) as c:
        result = c.ingest(walk(entity, track, 300))
        assert result.accepted == 300 and flaky.attempts == 3 and flaky.sent == 1
        assert stored(c, entity) == 300


def test_a_lost_answer_is_not_retried(live: LiveServer) -> None:
    """After a read timeout the server may have stored the batch (here it did): retrying would store it twice."""
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    flaky = Flaky(lose_answers=1)
    with Client(url=live.url, retry=FAST, transport=flaky) as c:
        with pytest.raises(IngestError) as caught:
            c.ingest(walk(entity, track, 250))
        assert caught.value.code == "TRANSPORT_ERROR" and isinstance(caught.value.cause, httpx.ReadTimeout)
        assert flaky.attempts == 1
        assert stored(c, entity) == 250


def test_a_bad_item_stops_at_its_batch(client: Client) -> None:
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    items = list(walk(entity, track, 6000))
    items[4500]["lat"] = 95.0
    with pytest.raises(IngestError) as caught:
        client.ingest(items, batch_size=3000)
    error = caught.value
    assert (error.batch, error.stored.accepted, error.code) == (1, 3000, "INVALID_ITEM")
    assert isinstance(error.cause, GraphQLError)
    assert error.cause.errors[0].extensions["index"] == 1500
    assert error.cause.errors[0].extensions["field"] == "lat"
    assert stored(client, entity) == 3000  # the first batch, and nothing of the second


def test_retry_rule() -> None:
    """Which answers prove nothing was stored (the rule of the module docstring, case by case)."""
    request = httpx.Request("POST", "http://x/graphql")

    def gql(code: str) -> GraphQLError:
        return GraphQLError([ErrorDetail("x", code)], None, 200)

    def http(status: int, body: dict[str, Any] | None = None) -> HTTPError:
        return HTTPError(httpx.Response(status, json=body, request=request))

    assert is_retryable(httpx.ConnectError("x", request=request))
    assert not is_retryable(httpx.ReadTimeout("x", request=request))
    assert is_retryable(gql("DATABASE_UNAVAILABLE")) and is_retryable(gql("QUERY_TIMEOUT"))
    assert not is_retryable(gql("INVALID_ITEM")) and not is_retryable(gql("INTERNAL"))
    assert is_retryable(http(503, {"error": {"code": "DATABASE_UNAVAILABLE", "message": "down"}}))
    assert is_retryable(http(429)) and is_retryable(http(503))  # a proxy's answer without our body
    assert not is_retryable(http(500, {"error": {"code": "INTERNAL", "message": "x"}}))
    assert not is_retryable(http(400, {"error": {"code": "BAD_USER_INPUT", "message": "x"}}))


# --- bulk: POST /ingest/observations --------------------------------------------------------------------


def test_bulk_from_a_generator_streams_ndjson(client: Client) -> None:
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    result = client.bulk_ingest(walk(entity, track, 25_000))
    assert (result.accepted, result.entities_created, result.tracks_updated) == (25_000, 1, 1)
    assert stored(client, entity) == 25_000


def test_bulk_from_files(client: Client, tmp_path: Path) -> None:
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    ndjson = tmp_path / "obs.ndjson"
    ndjson.write_bytes(b"".join(ndjson_lines(walk(entity, track, 1000))))  # what the client streams
    csv = tmp_path / "obs.csv"
    rows = ["time,lon,lat,sourceType,entityId,trackId"]
    rows += [
        f"{(START + timedelta(hours=1, seconds=i)).isoformat()},27.1,42.6,sdk,{entity},{track}"
        for i in range(40)
    ]
    csv.write_text("\n".join(rows) + "\n")
    assert client.bulk_ingest(ndjson).accepted == 1000
    assert client.bulk_ingest(str(csv)).accepted == 40
    assert stored(client, entity) == 1040


def test_bulk_retries_a_resendable_source_only(live: LiveServer) -> None:
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    flaky = Flaky(refuse=1)
    with Client(url=live.url, retry=FAST, transport=flaky) as c:
        assert c.bulk_ingest(list(walk(entity, track, 500))).accepted == 500
        assert (flaky.attempts, flaky.sent) == (2, 1)
        once = Flaky(refuse=1)
        with Client(url=live.url, retry=FAST, transport=once) as c2, pytest.raises(httpx.ConnectError):
            c2.bulk_ingest(walk(entity, track, 10))  # a generator cannot be read twice
        assert stored(c, entity) == 500


def test_bulk_bad_line_stores_nothing(client: Client) -> None:
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    items = list(walk(entity, track, 100))
    items[57]["lon"] = 200
    with pytest.raises(HTTPError) as caught:
        client.bulk_ingest(items)
    assert caught.value.status_code == 400 and caught.value.code in ("INVALID_ITEM", "BAD_USER_INPUT")
    assert "58" in caught.value.message  # 1-based line number
    assert stored(client, entity) == 0


async def test_async_ingest_and_bulk(live: LiveServer) -> None:
    entity, track = str(uuid.uuid4()), str(uuid.uuid4())
    async with AsyncClient(url=live.url, retry=FAST) as c:
        first = await c.ingest(walk(entity, track, 7000), batch_size=4000)
        bulk = await c.bulk_ingest(walk(entity, str(uuid.uuid4()), 3000))
        page = await c.observations.page(ObservationFilter(entity_ids=[entity]), first=1, total=True)
    assert (first.accepted, first.batches, bulk.accepted) == (7000, 2, 3000)
    assert page.total_count == 10_000
