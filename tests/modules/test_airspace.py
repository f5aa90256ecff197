"""Airspace module on a real PostGIS: migrations, seed, every root field, batching, typed errors,
composition. Violations are checked against a Python oracle (shapely + altitude + time window)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import shapely
from module_helpers import migrate_module, serve_modules, subgraph_data
from shapely.geometry.base import BaseGeometry

from atlas4d.db.migrate import load_migrations, migrate
from atlas4d.db.pool import log_statements
from atlas4d.modules.airspace import module
from atlas4d.modules.airspace.scenario import build_scenario
from atlas4d.modules.airspace.seed import seed
from atlas4d.settings import Settings

END = datetime(2026, 5, 2, tzinfo=UTC)
URL = "/subgraphs/airspace/graphql"


@pytest.fixture(scope="session")
async def airspace(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve_modules(settings, database_url, [module]):
        yield client


@pytest.fixture
async def empty(clean_db: asyncpg.Pool) -> asyncpg.Pool:
    await migrate_module(clean_db, module)
    await clean_db.execute("TRUNCATE atlas4d_airspace.aircraft, atlas4d_airspace.restricted_zones")
    return clean_db


@pytest.fixture
async def seeded(empty: asyncpg.Pool) -> dict[str, int]:
    async with empty.acquire() as conn:
        summary = await seed(conn, 7, end=END)
    return summary.rows


async def gql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    data: dict[str, Any] = await subgraph_data(client, "airspace", query, variables)
    return data


async def error_code(client: httpx.AsyncClient, query: str, **variables: Any) -> str:
    body = (await client.post(URL, json={"query": query, "variables": variables})).json()
    assert body.get("data") is None or any(v is None for v in body["data"].values()), body
    return str(body["errors"][0]["extensions"]["code"])


# --- the oracle ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OracleZone:
    id: str
    kind: str
    shape: BaseGeometry
    floor: float
    ceiling: float
    active_from: datetime | None
    active_to: datetime | None


async def oracle_inputs(pool: asyncpg.Pool) -> tuple[list[OracleZone], list[asyncpg.Record]]:
    zones = [
        OracleZone(str(r["id"]), r["kind"], shapely.from_wkb(r["wkb"]), r["floor_m"], r["ceiling_m"],
                   r["active_from"], r["active_to"])
        for r in await pool.fetch(
            "SELECT id, kind, ST_AsBinary(geom) AS wkb, floor_m, ceiling_m, active_from, active_to "
            "FROM atlas4d_airspace.restricted_zones"
        )
    ]  # fmt: skip
    observations = await pool.fetch(
        "SELECT o.track_id, o.entity_id, o.t, ST_X(o.geom) AS x, ST_Y(o.geom) AS y, o.altitude_m "
        "FROM atlas4d.observations_core o WHERE o.entity_id IN (SELECT entity_id FROM atlas4d_airspace.aircraft)"
    )
    return zones, observations


def oracle_violations(
    zones: Iterable[OracleZone], observations: Iterable[asyncpg.Record], start: datetime | None = None,
    end: datetime | None = None, kinds: set[str] | None = None,
) -> dict[tuple[str, str], tuple[str, str, float, float, int]]:  # fmt: skip
    """(trackId, zoneId) -> (enteredAt, exitedAt, minAltitude, maxAltitude, observationCount)."""
    found: dict[tuple[str, str], list[Any]] = {}
    for z in zones:
        if kinds is not None and z.kind not in kinds:
            continue
        shapely.prepare(z.shape)
        for o in observations:
            t, alt = o["t"], o["altitude_m"]
            if o["track_id"] is None or alt is None or not z.floor <= alt <= z.ceiling:
                continue
            if (z.active_from and t < z.active_from) or (z.active_to and t >= z.active_to):
                continue
            if (start and t < start) or (end and t >= end):
                continue
            if not z.shape.intersects(shapely.Point(o["x"], o["y"])):
                continue
            v = found.setdefault((str(o["track_id"]), z.id), [t, t, alt, alt, 0])
            v[0], v[1], v[2], v[3], v[4] = (
                min(v[0], t),
                max(v[1], t),
                min(v[2], alt),
                max(v[3], alt),
                v[4] + 1,
            )
    return {k: (iso(v[0]), iso(v[1]), v[2], v[3], v[4]) for k, v in found.items()}


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def as_found(violations: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str, float, float, int]]:
    return {
        (v["trackId"], v["zoneId"]): (
            iso(datetime.fromisoformat(v["enteredAt"])), iso(datetime.fromisoformat(v["exitedAt"])),
            v["minAltitude"], v["maxAltitude"], v["observationCount"],
        )
        for v in violations
    }  # fmt: skip


VIOLATION_FIELDS = "trackId zoneId entityId enteredAt exitedAt minAltitude maxAltitude observationCount"


# --- migrations and seed ---------------------------------------------------------------------------


async def test_migrations_apply_once_and_only_touch_their_schema(pool: asyncpg.Pool) -> None:
    migrations = load_migrations("airspace", module.migrations)  # type: ignore[arg-type]
    async with pool.acquire() as conn:
        await migrate(conn, migrations)
        assert await migrate(conn, migrations) == []
        async with conn.transaction():  # the files themselves can run again (IF NOT EXISTS, OR REPLACE)
            for m in migrations:
                await conn.execute(m.sql)
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'atlas4d_airspace'"
    )
    assert {r["table_name"] for r in tables} == {"aircraft", "restricted_zones"}
    for m in migrations:
        assert "ALTER TABLE atlas4d." not in m.sql and "atlas4d.entities" not in m.sql.split("--", 1)[0]


def test_scenario_is_deterministic() -> None:
    a, b = build_scenario(7, END), build_scenario(7, END)
    assert a.fixes == b.fixes and a.zones == b.zones and a.aircraft == b.aircraft
    assert build_scenario(8, END).fixes != a.fixes
    assert all(END - timedelta(hours=24) <= f.t < END for f in a.fixes)
    assert all(f.altitude_m is not None for f in a.fixes)


async def snapshot(pool: asyncpg.Pool) -> list[Any]:
    return [
        await pool.fetch("SELECT * FROM atlas4d_airspace.aircraft ORDER BY entity_id"),
        await pool.fetch("SELECT id, name, kind, ST_AsText(geom), floor_m, ceiling_m, active_from, active_to "
                         "FROM atlas4d_airspace.restricted_zones ORDER BY id"),
        await pool.fetch("SELECT t, track_id, entity_id, ST_AsText(geom), altitude_m FROM atlas4d.observations_core "
                         "WHERE source_type = 'adsb' ORDER BY t, track_id"),
        await pool.fetch("SELECT id, entity_id, point_count, start_time, end_time FROM atlas4d.tracks ORDER BY id"),
    ]  # fmt: skip


async def test_seed_is_deterministic_idempotent_and_coexists_with_the_core_demo(empty: asyncpg.Pool) -> None:
    from atlas4d.demo import load_burgas

    async with empty.acquire() as conn:
        await load_burgas(conn, seed=42, end=END)
        vehicles = await conn.fetchval(
            "SELECT count(*) FROM atlas4d.observations_core WHERE source_type = 'vehicle'"
        )
        first = await seed(conn, 7, end=END)
        before = await snapshot(empty)
        again = await seed(conn, 7, end=END)
        assert await snapshot(empty) == before and again == first
        await load_burgas(conn, seed=42, end=END)  # reloading the core demo keeps the airspace rows
        assert await snapshot(empty) == before
    assert (
        await empty.fetchval("SELECT count(*) FROM atlas4d.observations_core WHERE source_type = 'vehicle'")
        == vehicles
    )
    rows = first.rows
    assert rows["aircraft"] == 8 and rows["restricted_zones"] == 4
    assert rows["observations"] == len(build_scenario(7, END).fixes) and rows["tracks"] == 16
    assert 0 < rows["violations"] < 40


async def test_seeded_violations_equal_the_oracle_and_cover_every_zone_kind(
    seeded: dict[str, int], pool: asyncpg.Pool, airspace: httpx.AsyncClient
) -> None:
    zones, observations = await oracle_inputs(pool)
    data = await gql(airspace, f"{{ zoneViolations(first: 10000) {{ {VIOLATION_FIELDS} zone {{ kind }} }} }}")
    found = data["zoneViolations"]
    assert as_found(found) == oracle_violations(zones, observations)
    assert len(found) == seeded["violations"]
    assert {v["zone"]["kind"] for v in found} == {"airport_ctr", "restricted", "military", "temporary"}
    # the temporary zone's footprint is crossed outside its window too; only the crossings inside count
    timeless = [OracleZone(z.id, z.kind, z.shape, z.floor, z.ceiling, None, None) for z in zones]
    assert len(oracle_violations(timeless, observations, kinds={"temporary"})) > len(
        oracle_violations(zones, observations, kinds={"temporary"})
    )


async def test_time_window_nested_violations_and_zone_lookups_equal_the_oracle(
    seeded: dict[str, int], pool: asyncpg.Pool, airspace: httpx.AsyncClient
) -> None:
    zones, observations = await oracle_inputs(pool)
    start, end = END - timedelta(hours=14), END - timedelta(hours=4)
    window = {"from": start.isoformat(), "to": end.isoformat()}
    data = await gql(
        airspace,
        f"""query($time: TimeFilter) {{
          zoneViolations(time: $time, first: 10000) {{ {VIOLATION_FIELDS} }}
          restrictedZones {{ id kind violations(time: $time) {{ {VIOLATION_FIELDS} zone {{ id }} }} }}
          aircraft {{ entityId violations(time: $time) {{ {VIOLATION_FIELDS} aircraft {{ entityId }} }} }}
        }}""",
        time=window,
    )
    expected = oracle_violations(zones, observations, start, end)
    assert expected and as_found(data["zoneViolations"]) == expected
    by_zone = [v for z in data["restrictedZones"] for v in z["violations"]]
    assert as_found(by_zone) == expected
    assert all(v["zone"]["id"] == v["zoneId"] for v in by_zone)
    by_aircraft = [v for a in data["aircraft"] for v in a["violations"]]
    assert as_found(by_aircraft) == expected
    assert all(v["aircraft"]["entityId"] == v["entityId"] for v in by_aircraft)
    for z in data["restrictedZones"]:
        assert as_found(z["violations"]) == oracle_violations(
            [x for x in zones if x.id == z["id"]], observations, start, end
        )


# --- root fields -----------------------------------------------------------------------------------


async def test_aircraft_filters(seeded: dict[str, int], airspace: httpx.AsyncClient) -> None:
    q = "query($f: AircraftFilter, $n: Int) { aircraft(filter: $f, first: $n) { entityId icao24 callsign typeCode registration entity { id } } }"
    everything = (await gql(airspace, q))["aircraft"]
    assert len(everything) == 8 and [a["icao24"] for a in everything] == sorted(
        a["icao24"] for a in everything
    )
    assert all(a["entity"]["id"] == a["entityId"] for a in everything)
    assert [a["callsign"] for a in (await gql(airspace, q, f={"icao24s": ["4551C4"]}))["aircraft"]] == [
        "BUC4201"
    ]
    assert {a["icao24"] for a in (await gql(airspace, q, f={"typeCodes": ["b738"]}))["aircraft"]} == {
        "4ca8e5",
        "3c6752",
    }
    assert [a["typeCode"] for a in (await gql(airspace, q, f={"callsigns": ["lzcES"]}))["aircraft"]] == [
        "C172"
    ]
    one = everything[3]["entityId"]
    assert [a["entityId"] for a in (await gql(airspace, q, f={"entityIds": [one]}))["aircraft"]] == [one]
    assert len((await gql(airspace, q, n=3))["aircraft"]) == 3
    assert (await gql(airspace, q, f={"icao24s": ["000000"]}))["aircraft"] == []


async def test_restricted_zones_by_bbox_activity_and_kind(
    seeded: dict[str, int], airspace: httpx.AsyncClient
) -> None:
    q = "query($b: BBoxInput, $at: DateTime, $k: [String!]) { restrictedZones(bbox: $b, activeAt: $at, kinds: $k) { name kind floor ceiling activeFrom activeTo alwaysActive geometry } }"
    names = lambda d: [z["name"] for z in d["restrictedZones"]]  # noqa: E731
    everything = await gql(airspace, q)
    assert names(everything) == [
        "Atanasovsko Lake reserve",
        "Burgas CTR",
        "D-31 offshore military area",
        "Port of Burgas TFR",
    ]
    tfr = everything["restrictedZones"][3]
    assert (
        tfr["kind"] == "temporary" and not tfr["alwaysActive"] and tfr["geometry"]["type"] == "MultiPolygon"
    )
    assert datetime.fromisoformat(tfr["activeTo"]) - datetime.fromisoformat(tfr["activeFrom"]) == timedelta(
        hours=4
    )
    assert "Port of Burgas TFR" not in names(
        await gql(airspace, q, at=(END - timedelta(hours=2)).isoformat())
    )
    assert "Port of Burgas TFR" in names(await gql(airspace, q, at=(END - timedelta(hours=10)).isoformat()))
    assert "Port of Burgas TFR" not in names(
        await gql(airspace, q, at=(END - timedelta(hours=6)).isoformat())
    )  # [from, to)
    offshore = {"minLon": 27.7, "minLat": 42.3, "maxLon": 27.9, "maxLat": 42.45}
    assert names(await gql(airspace, q, b=offshore)) == ["D-31 offshore military area"]
    assert names(await gql(airspace, q, k=["airport_ctr"])) == ["Burgas CTR"]


async def test_zone_violations_by_zone_ids_and_kinds(
    seeded: dict[str, int], pool: asyncpg.Pool, airspace: httpx.AsyncClient
) -> None:
    zones, observations = await oracle_inputs(pool)
    military = [z for z in zones if z.kind == "military"]
    q = f"query($ids: [ID!], $k: [String!], $n: Int) {{ zoneViolations(zoneIds: $ids, zoneKinds: $k, first: $n) {{ {VIOLATION_FIELDS} }} }}"
    by_id = (await gql(airspace, q, ids=[military[0].id]))["zoneViolations"]
    assert by_id and as_found(by_id) == oracle_violations(military, observations)
    assert as_found((await gql(airspace, q, k=["military"]))["zoneViolations"]) == as_found(by_id)
    assert len((await gql(airspace, q, n=2))["zoneViolations"]) == 2
    assert (await gql(airspace, q, ids=[str(uuid.uuid4())]))["zoneViolations"] == []


async def test_entity_and_track_extensions_are_batched(
    seeded: dict[str, int], pool: asyncpg.Pool, airspace: httpx.AsyncClient
) -> None:
    zones, observations = await oracle_inputs(pool)
    expected = oracle_violations(zones, observations)
    aircraft_ids = [
        str(r["entity_id"]) for r in await pool.fetch("SELECT entity_id FROM atlas4d_airspace.aircraft")
    ]
    others = [str(uuid.uuid4()) for _ in range(50 - len(aircraft_ids))]
    reps = [{"__typename": "Entity", "id": i} for i in aircraft_ids + others]
    q = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Entity { id aircraft { icao24
             flights { id violations { zoneId trackId zone { name } } } violations { zone { kind } } } } } }"""
    with log_statements() as log:
        data = await gql(airspace, q, r=reps)
    # one per loading field and level: aircraft; flights, Aircraft.violations; Track.violations and the
    # zones of Aircraft.violations; the zones of Track.violations
    assert len(log) == 5, log.statements
    assert len(data["_entities"]) == 50 and all(e["aircraft"] is None for e in data["_entities"][8:])
    nested = [v for e in data["_entities"][:8] for tr in e["aircraft"]["flights"] for v in tr["violations"]]
    assert {(v["trackId"], v["zoneId"]) for v in nested} == set(expected)
    track_ids = [str(r["id"]) for r in await pool.fetch("SELECT id FROM atlas4d.tracks ORDER BY id")]
    track_reps = [{"__typename": "Track", "id": i} for i in (track_ids + others)[:50]]
    q = f"""query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on Track {{ id
             violations {{ {VIOLATION_FIELDS} aircraft {{ icao24 }} zone {{ name }} track {{ id }} entity {{ id }} }} }} }} }}"""
    with log_statements() as log:
        data = await gql(airspace, q, r=track_reps)
    assert len(log) == 3, log.statements  # violations; aircraft; zone
    found = [v for e in data["_entities"] for v in e["violations"]]
    assert as_found(found) == expected
    assert all(v["track"]["id"] == v["trackId"] and v["aircraft"]["icao24"] for v in found)
    zone_reps = [{"__typename": "RestrictedZone", "id": z.id} for z in zones]
    with log_statements() as log:
        data = await gql(
            airspace,
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on RestrictedZone { id name } } }",
            r=zone_reps,
        )
    assert len(log) == 1 and [e["id"] for e in data["_entities"]] == [z.id for z in zones]


# --- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ('{ aircraft(filter: {icao24s: ["xyz"]}) { icao24 } }', "BAD_USER_INPUT"),
        ('{ aircraft(filter: {entityIds: ["nope"]}) { icao24 } }', "BAD_USER_INPUT"),
        ('{ aircraft(filter: {callsigns: [" "]}) { icao24 } }', "BAD_USER_INPUT"),
        ("{ aircraft(first: 100000) { icao24 } }", "PAGE_TOO_LARGE"),
        ("{ aircraft(first: -1) { icao24 } }", "BAD_USER_INPUT"),
        ("{ restrictedZones(bbox: {minLon: 27, minLat: 43, maxLon: 28, maxLat: 42}) { id } }", "BAD_BBOX"),
        ("{ restrictedZones(bbox: {minLon: 27, minLat: 42, maxLon: 200, maxLat: 43}) { id } }", "BAD_BBOX"),
        ('{ restrictedZones(activeAt: "2026-05-01T00:00:00") { id } }', "BAD_TIME_RANGE"),
        ('{ zoneViolations(zoneIds: ["1"]) { zoneId } }', "BAD_USER_INPUT"),
        (
            '{ zoneViolations(time: {from: "2026-05-02T00:00:00Z", to: "2026-05-01T00:00:00Z"}) { zoneId } }',
            "BAD_TIME_RANGE",
        ),
        ('{ zoneViolations(time: {from: "2026-05-01T00:00:00"}) { zoneId } }', "BAD_TIME_RANGE"),
        (
            '{ zoneViolations(time: {last: "PT1H", from: "2026-05-01T00:00:00Z"}) { zoneId } }',
            "BAD_TIME_RANGE",
        ),
    ],
)
async def test_bad_input_gives_typed_codes(
    empty: asyncpg.Pool, airspace: httpx.AsyncClient, query: str, code: str
) -> None:
    assert await error_code(airspace, query) == code


async def test_bad_nested_time_gives_a_typed_code(
    seeded: dict[str, int], airspace: httpx.AsyncClient
) -> None:
    q = '{ restrictedZones { violations(time: {from: "2026-05-02T00:00:00Z", to: "2026-05-01T00:00:00Z"}) { zoneId } } }'
    body = (await airspace.post(URL, json={"query": q})).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_TIME_RANGE"
