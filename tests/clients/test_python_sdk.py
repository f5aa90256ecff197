"""The Python SDK (`clients/python`, package `atlas4d_client`) against a live `atlas4d serve` with the demo.

Oracles: the original Atlas4D SDK's documented request shapes, pyproj geodesics, shapely predicates, one big
page against many small ones, and the server's own counts across faces (REST stats vs GraphQL totalCount).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from clients_server import LiveServer
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon, shape

import atlas4d
from atlas4d_client import (
    BBox,
    Client,
    EntityFilter,
    GraphQLError,
    HTTPError,
    Near,
    ObservationFilter,
    TimeRange,
    TrackFilter,
    feature_collection,
    to_geodataframe,
    to_shapely,
)

GEOD = Geod(ellps="WGS84")
Recent = Callable[[timedelta], TimeRange]
BURGAS = BBox(27.40, 42.45, 27.52, 42.53)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)


@pytest.fixture
def client(live: LiveServer) -> Iterator[Client]:
    with Client(url=live.url) as c:
        yield c


@pytest.fixture
def recorded(live: LiveServer) -> Iterator[tuple[Client, Recorder]]:
    recorder = Recorder()
    with Client(url=live.url) as c:
        c._http.event_hooks["request"] = [recorder]
        yield c, recorder


def geodesic_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --- the original Atlas4D SDK's REST methods ------------------------------------------------------------


def test_original_sdk_import_and_constructor(live: LiveServer) -> None:
    """`from atlas4d import Client` (the original SDK's import) gives this client; `Client(host=, port=)`."""
    assert atlas4d.Client is Client
    port = int(live.url.rsplit(":", 1)[1])
    with atlas4d.Client(host="127.0.0.1", port=port, timeout=10) as c:
        health = c.health()
    assert health["status"] == "healthy" and health["postgres"] == "healthy"


def test_observations_list_sends_the_original_request(recorded: tuple[Client, Recorder]) -> None:
    client, recorder = recorded
    rows = client.observations.list(
        lat=42.50, lon=27.47, radius_km=3, hours=24, source_type="vehicle", limit=50
    )
    (request,) = recorder.requests
    assert request.method == "GET" and request.url.path == "/api/observations"
    assert dict(request.url.params) == {
        "radius_km": "3",
        "hours": "24",
        "limit": "50",
        "lat": "42.5",
        "lon": "27.47",
        "source_type": "vehicle",
    }
    assert 0 < len(rows) <= 50
    assert set(rows[0]) == {"id", "t", "lat", "lon", "source_type", "speed_ms", "heading_deg"}
    assert all(r["source_type"] == "vehicle" for r in rows)
    assert all(geodesic_m(27.47, 42.50, r["lon"], r["lat"]) <= 3000 + 1e-6 for r in rows)
    times = [datetime.fromisoformat(r["t"]) for r in rows]
    assert times == sorted(times, reverse=True)


def test_defaults_and_geojson_and_anomalies_as_the_original(recorded: tuple[Client, Recorder]) -> None:
    client, recorder = recorded
    client.observations.list()
    geo = client.observations.geojson(limit=5)
    anomalies = client.anomalies.list(hours=48, limit=3)
    first, second, third = recorder.requests
    assert dict(first.url.params) == {"radius_km": "10", "hours": "24", "limit": "100"}
    assert (second.url.path, dict(second.url.params)) == ("/api/geojson/observations", {"limit": "5"})
    assert (third.url.path, dict(third.url.params)) == ("/api/anomalies", {"hours": "48", "limit": "3"})
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 5
    assert all(f["geometry"]["type"] == "Point" for f in geo["features"])
    assert 0 < len(anomalies) <= 3
    assert {"id", "anomaly_type", "severity", "score", "detected_at", "lat", "lon"} <= set(anomalies[0])


def test_stats_agree_with_graphql_counts(client: Client) -> None:
    stats = client.stats()
    page = client.observations.page(first=1, total=True)
    assert stats["total_observations"] == page.total_count
    assert stats["total_anomalies"] == client.anomalies.page(first=1, total=True).total_count


def test_rest_errors_keep_the_code_and_are_httpx_status_errors(client: Client) -> None:
    with pytest.raises(HTTPError) as caught:
        client.observations.list(lat=95, lon=27.0)
    assert caught.value.code == "BAD_USER_INPUT" and caught.value.field == "lat"
    assert isinstance(caught.value, httpx.HTTPStatusError) and caught.value.response.status_code == 400
    with pytest.raises(httpx.HTTPStatusError) as missing:
        client.ask("How do I create a module?")  # the full platform's NLQ service; the gateway has none
    assert missing.value.response.status_code == 404


# --- typed GraphQL results, filters as objects, pagination ----------------------------------------------


def test_iter_walks_every_page_once_in_order(client: Client, recent: Recent) -> None:
    f = ObservationFilter(bbox=BURGAS, time=recent(timedelta(hours=3)), kinds=["vehicle"])
    whole = client.observations.page(f, first=10_000, total=True)
    assert whole.total_count is not None and 500 < whole.total_count == len(whole.items)
    assert not whole.has_next_page
    walked = list(client.observations.iter(f, page_size=97))
    assert [o.id for o in walked] == [o.id for o in whole.items]
    assert walked == list(whole.items)
    assert all(isinstance(o.time, datetime) and o.time.tzinfo is not None for o in walked)
    assert [o.id for o in client.observations.iter(f, page_size=97, limit=150)] == [
        o.id for o in walked[:150]
    ]
    ascending = list(client.observations.iter(f, page_size=400, order="TIME_ASC"))
    assert [o.id for o in ascending] == [o.id for o in reversed(whole.items)]  # ties broken by id both ways


def test_within_takes_a_shapely_polygon(client: Client, recent: Recent) -> None:
    """Oracle: shapely's `covers` on every observation of the polygon's bounding box."""
    triangle = Polygon([(27.42, 42.46), (27.51, 42.47), (27.47, 42.525)])
    last = recent(timedelta(hours=6))
    inside = {o.id for o in client.observations.iter(ObservationFilter(within=triangle, time=last))}
    around = list(client.observations.iter(ObservationFilter(bbox=BBox.of(triangle), time=last)))
    expected = {o.id for o in around if o.lon is not None and triangle.covers(Point(o.lon, o.lat))}
    assert len(around) > len(expected) > 100
    assert inside == expected


def test_near_takes_a_shapely_point_and_is_geodesic(client: Client) -> None:
    port = Point(27.478, 42.494)
    near = {o.id: o for o in client.observations.iter(ObservationFilter(near=Near.point(port, 800)))}
    assert len(near) > 50
    assert all(geodesic_m(port.x, port.y, o.lon, o.lat) <= 800 + 1e-6 for o in near.values())  # type: ignore[arg-type]
    box_around = ObservationFilter(bbox=(27.468, 42.486, 27.488, 42.502))
    for o in client.observations.iter(box_around):
        if geodesic_m(port.x, port.y, o.lon, o.lat) < 799:  # type: ignore[arg-type]
            assert o.id in near


def test_time_range_is_half_open_and_needs_zones(recorded: tuple[Client, Recorder]) -> None:
    client, recorder = recorded
    newest = client.observations.page(first=1).items[0].time
    start = newest - timedelta(hours=1)
    got = list(client.observations.iter(ObservationFilter(time=TimeRange(start, newest)), page_size=5000))
    assert got and all(start <= o.time < newest for o in got)
    assert client.observations.page(ObservationFilter(time=(newest, None))).items[0].time == newest
    sent = len(recorder.requests)
    with pytest.raises(ValueError, match="time zone"):
        client.observations.page(ObservationFilter(time=TimeRange(datetime(2026, 1, 1))))
    assert len(recorder.requests) == sent  # refused before any request


def test_graphql_errors_keep_codes(client: Client) -> None:
    with pytest.raises(GraphQLError) as bad_box:
        client.observations.page(ObservationFilter(bbox=(27.0, 43.0, 28.0, 42.0)))
    assert bad_box.value.code == "BAD_BBOX" and bad_box.value.errors[0].path == ("observations",)
    with pytest.raises(GraphQLError) as syntax:
        client.graphql("{ observations(first: 1) { nodes { id }")
    assert syntax.value.code == "GRAPHQL_PARSE_FAILED"
    with pytest.raises(GraphQLError) as big:
        client.observations.page(first=10_001)
    assert big.value.code == "PAGE_TOO_LARGE"


def test_entities_with_latest_observation(client: Client) -> None:
    olts = client.entities.page(
        EntityFilter(kinds=["olt"], name_contains="burgas"), with_latest=True, total=True
    )
    assert olts.total_count == 3 and {e.kind for e in olts} == {"olt"}
    for olt in olts:
        assert olt.latest_observation is not None
        newest = client.observations.page(ObservationFilter(entity_ids=[olt.id]), first=1).items[0]
        assert olt.latest_observation == newest
        assert to_shapely(olt) == Point(newest.lon, newest.lat)  # type: ignore[arg-type]
    central = client.entities.get("48a398c4-ef61-5ab9-ac46-ba36f0721d05")
    assert central is not None and central.name == "OLT-Burgas-Central" and central.latest_observation is None
    assert client.entities.get("00000000-0000-0000-0000-000000000000") is None
    vehicles = list(client.entities.iter(EntityFilter(kinds=["vehicle"]), page_size=7))
    assert len(vehicles) == len({v.id for v in vehicles}) == 24 + 6  # demo vehicles + vision's tracked ones


def test_tracks_as_shapely_and_geodataframe(client: Client) -> None:
    """Oracle for lengths: pyproj's geodesic length of the returned line."""
    page = client.tracks.page(
        TrackFilter(kinds=["vehicle"], min_length_meters=2000), first=20, with_geometry=True
    )
    assert len(page) == 20
    for track in page:
        line = to_shapely(track)
        assert isinstance(line, LineString)
        assert track.length_meters >= 2000
        assert GEOD.geometry_length(line) == pytest.approx(track.length_meters, rel=1e-6)
        assert track.duration == track.end_time - track.start_time
    frame = to_geodataframe(page)
    assert list(frame.index) == [t.id for t in page] and frame.crs.to_epsg() == 4326
    assert list(frame["lengthMeters"]) == [t.length_meters for t in page]
    assert all(frame.geometry.iloc[i].equals(to_shapely(t)) for i, t in enumerate(page))
    light = client.tracks.get(page.items[0].id, simplify=50)
    assert light is not None and light.geometry is not None
    assert len(light.geometry["coordinates"]) < len(page.items[0].geometry["coordinates"])  # type: ignore[index]


def test_position_at_is_linear_between_neighbours(client: Client) -> None:
    track = next(client.tracks.iter(TrackFilter(kinds=["vehicle"]), limit=1))
    points = client.tracks.observations(track.id)
    assert len(points) == track.point_count
    before, after = points[len(points) // 2], points[len(points) // 2 + 1]
    at = before.time + (after.time - before.time) / 4
    where = client.tracks.position_at(track.id, at)
    assert where is not None
    assert where.lon == pytest.approx(before.lon + (after.lon - before.lon) / 4, abs=1e-7)  # type: ignore[operator]
    assert where.lat == pytest.approx(before.lat + (after.lat - before.lat) / 4, abs=1e-7)  # type: ignore[operator]
    assert client.tracks.position_at(track.id, track.end_time + timedelta(seconds=1)) is None


def test_geojson_from_results_matches_postgis(client: Client) -> None:
    f = ObservationFilter(bbox=BURGAS, kinds=["vehicle"])
    built = client.observations.feature_collection(f, limit=50)
    ours = feature_collection(client.observations.page(f, first=50))
    assert [str(x["id"]) for x in built["features"]] == [x["id"] for x in ours["features"]]
    for theirs, mine in zip(built["features"], ours["features"], strict=True):
        assert shape(theirs["geometry"]).equals(shape(mine["geometry"]))
        assert theirs["properties"]["entityId"] == mine["properties"]["entityId"]
    frame = to_geodataframe(client.observations.page(f, first=50))
    assert len(frame) == 50 and frame.total_bounds[0] >= BURGAS.min_lon


def test_aggregates_sum_to_the_count(client: Client, recent: Recent) -> None:
    f = ObservationFilter(kinds=["vehicle"], time=recent(timedelta(hours=6)))
    total = client.observations.page(f, first=1, total=True).total_count
    buckets = client.observations.buckets(timedelta(hours=1), f)
    assert sum(b.count for b in buckets) == total and all(
        b.end - b.start == timedelta(hours=1) for b in buckets
    )
    cells = client.observations.grid(f, cell_size=0.02)
    assert sum(c.count for c in cells) == total
    assert all(shape(c.geometry).covers(Point(c.center.lon, c.center.lat)) for c in cells)


def test_raw_graphql_returns_data(client: Client) -> None:
    data = client.graphql(
        "query One($id: ID!) { entity(id: $id) { name } }",
        {"id": "48a398c4-ef61-5ab9-ac46-ba36f0721d05"},
        "One",
    )
    assert data == {"entity": {"name": "OLT-Burgas-Central"}}
