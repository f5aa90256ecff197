# ruff: noqa: RUF001, RUF002
"""Q1–Q3 as each system asks them (our GraphQL, PostGraphile v5 and v4, raw SQL), with fixed parameters
inside the seeded data, and how to read the ids each answer returned (which must agree)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SYSTEMS = ("atlas4d", "postgraphile-v5", "postgraphile-v4", "raw-sql", "atlas4d-remote", "apollo-gateway")
# atlas4d-remote and apollo-gateway answer Q4 only: our gateway and @apollo/gateway 2 (one process each)
# calling our core and mobility subgraphs over HTTP
BBOX = (27.2, 42.2, 27.8, 42.8)
Q1_FROM, Q1_TO = "2026-10-31T12:00:00Z", "2026-10-31T13:00:00Z"  # one hour of the seeded week
NEAR = (27.47, 42.5, 5000.0)
Q3_FROM, Q3_TO = "2026-10-30T00:00:00Z", "2026-10-31T00:00:00Z"

Ids = list[Any]


@dataclass(frozen=True)
class Request:
    """A GraphQL POST body, or for raw SQL the statement pgbench runs."""

    body: dict[str, Any] | None = None
    sql: str | None = None


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    requests: dict[str, Request]
    ids: Callable[[str, Any], Ids]  # (system, GraphQL data or SQL rows) → ids in answer order


def _nodes(data: Any, *path: str) -> list[dict[str, Any]]:
    for key in path:
        data = data[key]
    nodes: list[dict[str, Any]] = data
    return nodes


def _observation_ids(root: dict[str, str]) -> Callable[[str, Any], Ids]:
    def ids(system: str, data: Any) -> Ids:
        if system == "raw-sql":
            return [str(r[0]) for r in data]
        key = "rowId" if system == "postgraphile-v5" else "id"
        return [str(n[key]) for n in _nodes(data, root[system], "nodes")]

    return ids


def _q2_ids(system: str, data: Any) -> Ids:
    if system == "raw-sql":
        out: dict[str, list[str]] = {}
        for entity, _name, obs in data:
            out.setdefault(str(entity), []).append(str(obs))
        return list(out.items())
    if system == "atlas4d":
        return [(n["id"], [o["id"] for o in n["observations"]]) for n in _nodes(data, "entities", "nodes")]
    key = "rowId" if system == "postgraphile-v5" else "id"
    return [
        (n[key], [str(o[key]) for o in n["observationsByEntityId"]["nodes"]])
        for n in _nodes(data, "allEntities", "nodes")
    ]


def _envelope_geojson() -> dict[str, Any]:
    x0, y0, x1, y1 = BBOX
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def q1() -> Query:
    x0, y0, x1, y1 = BBOX
    ours = (
        f"{{ observations(filter: {{bbox: {{minLon: {x0}, minLat: {y0}, maxLon: {x1}, maxLat: {y1}}}, "
        f'time: {{from: "{Q1_FROM}", to: "{Q1_TO}"}}}}, first: 1000) '
        "{ nodes { id time speed geometry entity { name } } } }"
    )
    v5 = (
        f'{{ q1(minLon: {x0}, minLat: {y0}, maxLon: {x1}, maxLat: {y1}, tFrom: "{Q1_FROM}", tTo: "{Q1_TO}", '
        "first: 1000) { nodes { rowId t speedMs geojson entityByEntityId { name } } } }"
    )
    v4 = (
        "query($box: GeoJSON!) { allObservations(first: 1000, orderBy: [T_DESC, ID_DESC], filter: "
        f'{{t: {{greaterThanOrEqualTo: "{Q1_FROM}", lessThan: "{Q1_TO}"}}, geom: {{intersects: $box}}}}) '
        "{ nodes { id t speedMs geom { geojson } entityByEntityId { name } } } }"
    )
    sql = (
        "SELECT o.id, o.t, o.speed_ms, ST_AsGeoJSON(o.geom) AS geometry, e.name "
        "FROM atlas4d.observations_core o LEFT JOIN atlas4d.entities e ON e.id = o.entity_id "
        f"WHERE ST_Intersects(o.geom, ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326)) "
        f"AND o.t >= '{Q1_FROM}' AND o.t < '{Q1_TO}' ORDER BY o.t DESC, o.id DESC LIMIT 1000;"
    )
    return Query(
        "Q1",
        "bbox + 1 h window, first 1,000, entity name + GeoJSON",
        {
            "atlas4d": Request({"query": ours}),
            "postgraphile-v5": Request({"query": v5}),
            "postgraphile-v4": Request({"query": v4, "variables": {"box": _envelope_geojson()}}),
            "raw-sql": Request(sql=sql),
        },
        _observation_ids(
            {"atlas4d": "observations", "postgraphile-v5": "q1", "postgraphile-v4": "allObservations"}
        ),
    )


def q2() -> Query:
    ours = "{ entities(first: 100) { nodes { id name observations(first: 10) { id time lon lat } } } }"
    v5 = (
        "{ allEntities(first: 100, orderBy: ROW_ID_ASC) { nodes { rowId name "
        "observationsByEntityId(first: 10, orderBy: [T_DESC, ROW_ID_DESC]) { nodes { rowId t lon lat } } } } }"
    )
    v4 = (
        "{ allEntities(first: 100, orderBy: ID_ASC) { nodes { id name "
        "observationsByEntityId(first: 10, orderBy: [T_DESC, ID_DESC]) { nodes { id t lon lat } } } } }"
    )
    sql = (
        "SELECT e.id, e.name, x.id, x.t, x.lon, x.lat "
        "FROM (SELECT id, name FROM atlas4d.entities ORDER BY id LIMIT 100) e "
        "CROSS JOIN LATERAL (SELECT o.id, o.t, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat "
        "FROM atlas4d.observations_core o WHERE o.entity_id = e.id ORDER BY o.t DESC, o.id DESC LIMIT 10) x "
        "ORDER BY e.id, x.t DESC, x.id DESC;"
    )
    return Query(
        "Q2",
        "100 entities × latest 10 observations",
        {
            "atlas4d": Request({"query": ours}),
            "postgraphile-v5": Request({"query": v5}),
            "postgraphile-v4": Request({"query": v4}),
            "raw-sql": Request(sql=sql),
        },
        lambda system, data: _q2_ids(
            system, [(r[0], r[1], r[2]) for r in data] if system == "raw-sql" else data
        ),
    )


def q3() -> Query:
    lon, lat, radius = NEAR
    ours = (
        f"{{ observations(filter: {{near: {{lon: {lon}, lat: {lat}, radiusMeters: {radius}}}, "
        f'time: {{from: "{Q3_FROM}", to: "{Q3_TO}"}}}}, first: 1000) {{ nodes {{ id time lon lat speed }} }} }}'
    )
    fields = "t lon lat speedMs"
    v5 = (
        f'{{ q3(lon: {lon}, lat: {lat}, radius: {radius}, tFrom: "{Q3_FROM}", tTo: "{Q3_TO}", first: 1000) '
        f"{{ nodes {{ rowId {fields} }} }} }}"
    )
    v4 = v5.replace("rowId", "id")
    sql = (
        "SELECT o.id, o.t, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat, o.speed_ms FROM atlas4d.observations_core o "
        f"WHERE ST_DWithin(o.geom::geography, ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)::geography, {radius}) "
        f"AND o.t >= '{Q3_FROM}' AND o.t < '{Q3_TO}' ORDER BY o.t DESC, o.id DESC LIMIT 1000;"
    )
    return Query(
        "Q3",
        "within 5 km of a point, 1-day window, first 1,000",
        {
            "atlas4d": Request({"query": ours}),
            "postgraphile-v5": Request({"query": v5}),
            "postgraphile-v4": Request({"query": v4}),
            "raw-sql": Request(sql=sql),
        },
        _observation_ids({"atlas4d": "observations", "postgraphile-v5": "q3", "postgraphile-v4": "q3"}),
    )


Q4_QUERY = (
    "{ entities(first: 100) { nodes { id name latestObservation { id time lon lat } "
    "vehicle { kind label capacity } } } }"
)


def _q4_ids(system: str, data: Any) -> Ids:
    if system == "raw-sql":
        return [(str(e), None if o is None else str(o), label) for e, o, label in data]
    return [
        (
            n["id"],
            n["latestObservation"] and n["latestObservation"]["id"],
            n["vehicle"] and n["vehicle"]["label"],
        )
        for n in _nodes(data, "entities", "nodes")
    ]


def q4() -> Query:
    """Core and the mobility module in one query: core answers the page and each entity's latest observation,
    mobility (by `_entities`) the vehicle details of the 1 in 3 entities that are vehicles."""
    sql = (
        "SELECT e.id, x.id, v.label, e.name, x.t, x.lon, x.lat, v.kind, v.capacity "
        "FROM (SELECT id, name FROM atlas4d.entities ORDER BY id LIMIT 100) e "
        "LEFT JOIN LATERAL (SELECT o.id, o.t, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat "
        "FROM atlas4d.observations_core o WHERE o.entity_id = e.id ORDER BY o.t DESC, o.id DESC LIMIT 1) x "
        "ON true LEFT JOIN atlas4d_mobility.vehicles v ON v.entity_id = e.id ORDER BY e.id;"
    )
    body = Request({"query": Q4_QUERY})
    return Query(
        "Q4",
        "core + mobility: 100 entities, latest observation, vehicle details",
        {"atlas4d": body, "atlas4d-remote": body, "apollo-gateway": body, "raw-sql": Request(sql=sql)},
        lambda system, data: _q4_ids(
            system, [(r[0], r[1], r[2]) for r in data] if system == "raw-sql" else data
        ),
    )


def all_queries() -> list[Query]:
    return [q1(), q2(), q3(), q4()]


QUERY_NAMES = ("Q1", "Q2", "Q3", "Q4")
