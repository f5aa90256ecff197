"""`AsyncClient` is `Client` method for method: the same answers from the same live server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from clients_server import LiveServer

from atlas4d_client import (
    AsyncClient,
    Client,
    EntityFilter,
    GraphQLError,
    Last,
    ObservationFilter,
    TimeRange,
    TrackFilter,
)


async def test_async_matches_sync(live: LiveServer, recent: Callable[[timedelta], TimeRange]) -> None:
    vehicles = ObservationFilter(kinds=["vehicle"], time=recent(timedelta(hours=2)))
    with Client(url=live.url) as sync:
        expected_obs = list(sync.observations.iter(vehicles, page_size=300))
        expected_tracks = sync.tracks.page(TrackFilter(kinds=["vehicle"]), first=5, with_geometry=True)
        expected_rest = sync.observations.list(lat=42.5, lon=27.47, radius_km=2, limit=20)
        expected_stats = sync.stats()
    async with AsyncClient(url=live.url) as client:
        got_obs = [o async for o in client.observations.iter(vehicles, page_size=300)]
        got_tracks, got_rest, got_stats, health = await asyncio.gather(
            client.tracks.page(TrackFilter(kinds=["vehicle"]), first=5, with_geometry=True),
            client.observations.list(lat=42.5, lon=27.47, radius_km=2, limit=20),
            client.stats(),
            client.health(),
        )
        olts = [e async for e in client.entities.iter(EntityFilter(kinds=["olt"]), page_size=2)]
    assert len(expected_obs) > 300 and got_obs == expected_obs
    assert got_tracks == expected_tracks
    assert got_rest == expected_rest and got_stats == expected_stats
    assert health["status"] == "healthy" and len(olts) == 3


async def test_async_errors(live: LiveServer) -> None:
    async with AsyncClient(url=live.url) as client:
        with pytest.raises(GraphQLError) as caught:
            await client.observations.page(ObservationFilter(time=Last("PT0S")))
        assert caught.value.code == "BAD_DURATION"
        with pytest.raises(httpx.HTTPStatusError) as missing:
            await client.ask("What is Atlas4D?")
        assert missing.value.response.status_code == 404
