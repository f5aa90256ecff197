"""Every request the client makes, described once as a `Call` (what to send, how to read the answer), so the
sync `Client` and the `AsyncClient` differ only in how they send it ("sans-IO").

GraphQL calls POST `/graphql` with `Accept: application/graphql-response+json, application/json` (the
GraphQL-over-HTTP spec's recommendation); REST calls are the Core Spec v0.3 endpoints with the original
Atlas4D SDK's parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

import httpx

from atlas4d_client.errors import ErrorDetail, GraphQLError, HTTPError, ProtocolError
from atlas4d_client.filters import AnyFilter, filter_input, format_datetime, format_duration
from atlas4d_client.models import (
    ANOMALY_FIELDS,
    BUCKET_FIELDS,
    CELL_FIELDS,
    ENTITY_FIELDS,
    OBSERVATION_FIELDS,
    TRACK_FIELDS,
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

T = TypeVar("T")
Order = Literal["TIME_DESC", "TIME_ASC"]
FilterArg = AnyFilter | Mapping[str, Any] | None
ACCEPT_GRAPHQL = "application/graphql-response+json, application/json;q=0.9"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP exchange. `parse` gets the GraphQL `data` (for GraphQL calls) or the JSON body (REST)."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    graphql: bool = False

    def request(self, client: httpx.Client | httpx.AsyncClient, content: Any = None) -> httpx.Request:
        headers = {"accept": ACCEPT_GRAPHQL} if self.graphql else {"accept": "application/json"}
        headers.update(self.headers)
        return client.build_request(
            self.method, self.path, params=self.params, json=self.json, content=content, headers=headers
        )

    def read(self, response: httpx.Response) -> T:
        """The parsed result, or the error the response carries."""
        if not self.graphql:
            if response.status_code >= 400:
                raise HTTPError(response)
            return self.parse(_json(response))
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if media not in ("application/json", "application/graphql-response+json"):
            if response.status_code >= 400:
                raise HTTPError(response)
            raise ProtocolError(f"expected a GraphQL JSON response, got {media or 'no content type'}")
        body = _json(response)
        if not isinstance(body, Mapping):
            raise ProtocolError("a GraphQL response must be a JSON object")
        errors = body.get("errors")
        if errors:
            details = [ErrorDetail.from_json(e) for e in errors if isinstance(e, Mapping)]
            raise GraphQLError(details, body.get("data"), response.status_code)
        if response.status_code >= 400 or body.get("data") is None:
            raise HTTPError(response)
        return self.parse(body["data"])


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProtocolError(f"the server's answer is not JSON (HTTP {response.status_code})") from exc


def graphql(
    query: str, variables: Mapping[str, Any] | None = None, operation_name: str | None = None
) -> Call[dict[str, Any]]:
    body: dict[str, Any] = {"query": query, "variables": dict(variables or {})}
    if operation_name is not None:
        body["operationName"] = operation_name
    return Call("POST", "/graphql", dict, json=body, graphql=True)


def _gql(query: str, variables: Mapping[str, Any], parse: Callable[[dict[str, Any]], T]) -> Call[T]:
    return Call("POST", "/graphql", parse, json={"query": query, "variables": dict(variables)}, graphql=True)


def _page(raw: Mapping[str, Any], item: Callable[[Mapping[str, Any]], T]) -> Page[T]:
    info = raw["pageInfo"]
    return Page(
        items=[item(n) for n in raw["nodes"]],
        has_next_page=bool(info["hasNextPage"]),
        end_cursor=info.get("endCursor"),
        total_count=raw.get("totalCount"),
    )


_PAGE_INFO = "pageInfo { hasNextPage endCursor }"


# --- observations ---------------------------------------------------------------------------------------


def observations_page(
    filter: FilterArg, first: int, after: str | None, order: Order, total: bool
) -> Call[Page[Observation]]:
    query = (
        "query Atlas4DObservations($filter: ObservationFilter, $first: Int, $after: String, $order: TimeOrder!)"
        " { observations(filter: $filter, first: $first, after: $after, orderBy: $order)"
        f" {{ nodes {{ {OBSERVATION_FIELDS} }} {_PAGE_INFO} {'totalCount' if total else ''} }} }}"
    )
    variables = {"filter": filter_input(filter), "first": first, "after": after, "order": order}
    return _gql(query, variables, lambda d: _page(d["observations"], Observation.from_json))


def observation(id: str | int) -> Call[Observation | None]:
    query = f"query Atlas4DObservation($id: ID!) {{ observation(id: $id) {{ {OBSERVATION_FIELDS} }} }}"
    return _gql(query, {"id": str(id)}, lambda d: _optional(d["observation"], Observation.from_json))


def observations_geojson(filter: FilterArg, limit: int) -> Call[dict[str, Any]]:
    query = (
        "query Atlas4DObservationsGeoJSON($filter: ObservationFilter, $limit: Int)"
        " { observationsGeoJSON(filter: $filter, limit: $limit) }"
    )
    return _gql(query, {"filter": filter_input(filter), "limit": limit}, lambda d: d["observationsGeoJSON"])


def observation_buckets(interval: timedelta | str, filter: FilterArg) -> Call[list[ObservationBucket]]:
    query = (
        "query Atlas4DBuckets($interval: Duration!, $filter: ObservationFilter)"
        f" {{ observationBuckets(interval: $interval, filter: $filter) {{ {BUCKET_FIELDS} }} }}"
    )
    variables = {"interval": format_duration(interval), "filter": filter_input(filter)}
    return _gql(query, variables, lambda d: [ObservationBucket.from_json(b) for b in d["observationBuckets"]])


def observation_grid(
    filter: FilterArg, cell_size: float | None, h3_resolution: int | None
) -> Call[list[GridCell]]:
    query = (
        "query Atlas4DGrid($filter: ObservationFilter, $cellSize: Float, $h3: Int)"
        f" {{ observationGrid(filter: $filter, cellSize: $cellSize, h3Resolution: $h3) {{ {CELL_FIELDS} }} }}"
    )
    variables = {"filter": filter_input(filter), "cellSize": cell_size, "h3": h3_resolution}
    return _gql(query, variables, lambda d: [GridCell.from_json(c) for c in d["observationGrid"]])


def ingest_observations(items: Sequence[Mapping[str, Any]], auto_create_entities: bool) -> Call[IngestResult]:
    query = (
        "mutation Atlas4DIngest($items: [ObservationInput!]!, $auto: Boolean!)"
        " { ingestObservations(observations: $items, autoCreateEntities: $auto)"
        " { accepted entitiesCreated tracksUpdated } }"
    )
    variables = {"items": list(items), "auto": auto_create_entities}
    return _gql(query, variables, lambda d: IngestResult.from_json(d["ingestObservations"]))


def bulk_ingest(content_type: str, auto_create_entities: bool) -> Call[IngestResult]:
    """`POST /ingest/observations`; the body (NDJSON or CSV) is given when the request is built."""
    params = {"autoCreateEntities": "true" if auto_create_entities else "false"}
    return Call(
        "POST",
        "/ingest/observations",
        IngestResult.from_json,
        params=params,
        headers={"content-type": content_type},
    )


# --- entities, tracks, anomalies ------------------------------------------------------------------------

_LATEST = f"latestObservation {{ {OBSERVATION_FIELDS} }}"


def entities_page(
    filter: FilterArg, first: int, after: str | None, total: bool, with_latest: bool
) -> Call[Page[Entity]]:
    query = (
        "query Atlas4DEntities($filter: EntityFilter, $first: Int, $after: String)"
        " { entities(filter: $filter, first: $first, after: $after)"
        f" {{ nodes {{ {ENTITY_FIELDS} {_LATEST if with_latest else ''} }} {_PAGE_INFO}"
        f" {'totalCount' if total else ''} }} }}"
    )
    variables = {"filter": filter_input(filter), "first": first, "after": after}
    return _gql(query, variables, lambda d: _page(d["entities"], Entity.from_json))


def entity(id: str, with_latest: bool) -> Call[Entity | None]:
    query = f"query Atlas4DEntity($id: ID!) {{ entity(id: $id) {{ {ENTITY_FIELDS} {_LATEST if with_latest else ''} }} }}"
    return _gql(query, {"id": id}, lambda d: _optional(d["entity"], Entity.from_json))


def create_entities(items: Sequence[Mapping[str, Any]], on_conflict: str) -> Call[list[Entity]]:
    query = (
        "mutation Atlas4DCreateEntities($items: [EntityInput!]!, $onConflict: ConflictPolicy!)"
        f" {{ createEntities(entities: $items, onConflict: $onConflict) {{ {ENTITY_FIELDS} }} }}"
    )
    variables = {"items": list(items), "onConflict": on_conflict}
    return _gql(query, variables, lambda d: [Entity.from_json(e) for e in d["createEntities"]])


def _track_fields(with_geometry: bool) -> str:
    return TRACK_FIELDS + (" geometry(simplify: $simplify)" if with_geometry else "")


def tracks_page(
    filter: FilterArg, first: int, after: str | None, total: bool, with_geometry: bool, simplify: float | None
) -> Call[Page[Track]]:
    query = (
        "query Atlas4DTracks($filter: TrackFilter, $first: Int, $after: String"
        f"{', $simplify: Float' if with_geometry else ''})"
        " { tracks(filter: $filter, first: $first, after: $after)"
        f" {{ nodes {{ {_track_fields(with_geometry)} }} {_PAGE_INFO} {'totalCount' if total else ''} }} }}"
    )
    variables: dict[str, Any] = {"filter": filter_input(filter), "first": first, "after": after}
    if with_geometry:
        variables["simplify"] = simplify
    return _gql(query, variables, lambda d: _page(d["tracks"], Track.from_json))


def track(id: str, with_geometry: bool, simplify: float | None) -> Call[Track | None]:
    query = (
        f"query Atlas4DTrack($id: ID!{', $simplify: Float' if with_geometry else ''})"
        f" {{ track(id: $id) {{ {_track_fields(with_geometry)} }} }}"
    )
    variables: dict[str, Any] = {"id": id}
    if with_geometry:
        variables["simplify"] = simplify
    return _gql(query, variables, lambda d: _optional(d["track"], Track.from_json))


def position_at(track_id: str, time: datetime) -> Call[Position | None]:
    query = (
        "query Atlas4DPositionAt($id: ID!, $time: DateTime!)"
        " { track(id: $id) { positionAt(time: $time) { lon lat altitude } } }"
    )
    variables = {"id": track_id, "time": format_datetime(time)}

    def parse(d: dict[str, Any]) -> Position | None:
        return _optional((d["track"] or {}).get("positionAt"), Position.from_json)

    return _gql(query, variables, parse)


def track_observations(track_id: str, first: int | None) -> Call[list[Observation]]:
    query = (
        "query Atlas4DTrackObservations($id: ID!, $first: Int)"
        f" {{ track(id: $id) {{ observations(first: $first) {{ {OBSERVATION_FIELDS} }} }} }}"
    )

    def parse(d: dict[str, Any]) -> list[Observation]:
        return [Observation.from_json(o) for o in (d["track"] or {}).get("observations", [])]

    return _gql(query, {"id": track_id, "first": first}, parse)


def anomalies_page(filter: FilterArg, first: int, after: str | None, total: bool) -> Call[Page[Anomaly]]:
    query = (
        "query Atlas4DAnomalies($filter: AnomalyFilter, $first: Int, $after: String)"
        " { anomalies(filter: $filter, first: $first, after: $after)"
        f" {{ nodes {{ {ANOMALY_FIELDS} }} {_PAGE_INFO} {'totalCount' if total else ''} }} }}"
    )
    variables = {"filter": filter_input(filter), "first": first, "after": after}
    return _gql(query, variables, lambda d: _page(d["anomalies"], Anomaly.from_json))


def record_anomalies(items: Iterable[Mapping[str, Any]]) -> Call[list[Anomaly]]:
    query = (
        "mutation Atlas4DRecordAnomalies($items: [AnomalyInput!]!)"
        f" {{ recordAnomalies(anomalies: $items) {{ {ANOMALY_FIELDS} }} }}"
    )
    return _gql(query, {"items": list(items)}, lambda d: [Anomaly.from_json(a) for a in d["recordAnomalies"]])


def _optional(raw: Mapping[str, Any] | None, parse: Callable[[Mapping[str, Any]], T]) -> T | None:
    return None if raw is None else parse(raw)


# --- the original Atlas4D SDK's REST calls (Core Spec v0.3) ---------------------------------------------


def _body(value: Any) -> Any:
    return value


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/health", _body)


def stats() -> Call[dict[str, Any]]:
    return Call("GET", "/api/stats", _body)


def rest_observations(
    lat: float | None,
    lon: float | None,
    radius_km: float,
    hours: int,
    source_type: str | None,
    limit: int,
) -> Call[list[dict[str, Any]]]:
    """The original's `observations.list`: same parameters, same defaults, same request."""
    params: dict[str, Any] = {"radius_km": radius_km, "hours": hours, "limit": limit}
    if lat is not None:
        params["lat"] = lat
    if lon is not None:
        params["lon"] = lon
    if source_type:
        params["source_type"] = source_type
    return Call("GET", "/api/observations", _body, params=params)


def rest_geojson(limit: int, hours: int | None) -> Call[dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit}
    if hours is not None:
        params["hours"] = hours
    return Call("GET", "/api/geojson/observations", _body, params=params)


def rest_anomalies(hours: int, limit: int, severity_min: int | None) -> Call[list[dict[str, Any]]]:
    params: dict[str, Any] = {"hours": hours, "limit": limit}
    if severity_min is not None:
        params["severity_min"] = severity_min
    return Call("GET", "/api/anomalies", _body, params=params)


def rest_create_observation(body: Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call("POST", "/api/observations", _body, json=dict(body))


def rag_query(question: str, top_k: int, lang: str) -> Call[dict[str, Any]]:
    """The original's documentation Q&A endpoint (served by the full Atlas4D platform's NLQ service)."""
    return Call("POST", "/api/nlq/rag", _body, json={"q": question, "top_k": top_k, "lang": lang})
