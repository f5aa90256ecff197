"""The Python SDK's subscriptions against the live server: observations written after `subscribe` started,
inside its bbox, arrive typed and in order; others do not; errors keep the server's code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from clients_server import LiveServer

from atlas4d_client import (
    AsyncClient,
    BBox,
    Client,
    GraphQLError,
    Observation,
    ObservationFilter,
    ObservationInput,
)

BOX = BBox(10.0, -41.0, 10.5, -40.5)


def written(entity: uuid.UUID, lons: list[float]) -> list[ObservationInput]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        ObservationInput(time=start + timedelta(seconds=i), lon=lon, lat=-40.75, entity_id=str(entity),
                         source_type="py-live", entity_kind="py-test")
        for i, lon in enumerate(lons)
    ]  # fmt: skip


def test_subscribe_receives_what_is_written_in_its_bbox(live: LiveServer) -> None:
    entity = uuid.uuid4()
    with Client(url=live.url) as client, client.observations.subscribe(ObservationFilter(bbox=BOX)) as events:
        client.ingest(written(entity, [10.1, 11.0, 10.2]))  # 11.0 is outside the box
        got = [events.next(timeout=30), events.next(timeout=30)]
        assert all(isinstance(o, Observation) for o in got)
        assert [(o.lon, o.entity_id, o.source_type) for o in got] == [
            (10.1, str(entity), "py-live"),
            (10.2, str(entity), "py-live"),
        ]
        with pytest.raises(TimeoutError):
            events.next(timeout=0.5)


async def test_async_subscribe_and_any_subscription_document(live: LiveServer) -> None:
    entity = uuid.uuid4()
    query = (
        "subscription Mine($f: ObservationFilter) { observationAdded(filter: $f) { lon entity { id kind } } }"
    )
    async with (
        AsyncClient(url=live.url) as client,
        client.subscribe(query, {"f": {"entityIds": [str(entity)]}}) as raw,
        client.observations.subscribe({"bbox": BOX.to_graphql()}) as typed,
    ):
        await client.ingest(written(entity, [10.3, 20.0]))
        first = await anext(typed)
        assert (first.lon, first.entity_id) == (10.3, str(entity))
        lons = [(await anext(raw))["observationAdded"] for _ in range(2)]
        assert lons == [
            {"lon": 10.3, "entity": {"id": str(entity), "kind": "py-test"}},
            {"lon": 20.0, "entity": {"id": str(entity), "kind": "py-test"}},
        ]


def test_a_bad_filter_fails_with_the_servers_code(live: LiveServer) -> None:
    with Client(url=live.url) as client:
        bad = {"bbox": {"minLon": 10, "minLat": -40, "maxLon": 11, "maxLat": -41}}
        with pytest.raises(GraphQLError) as raised, client.observations.subscribe(bad) as events:
            events.next(timeout=30)
        assert raised.value.code == "BAD_BBOX"
